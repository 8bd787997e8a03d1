import type { TokenCacheSettings } from './config.js'

/** A managed-identity token as issued: the JWT and its exp and nbf (epoch seconds). */
export interface IssuedToken {
  token: string
  exp: number
  nbf: number
}

/**
 * IMDS's token cache: the managed-identity back end hands out the same token for an identity and a
 * resource until shortly before it expires (about 24 h on Azure), so a role assigned now shows up only
 * in a token issued later.
 */
export interface TokenCache {
  /** The cached token for this key, or a new one from `issue` (then cached). */
  get(key: string, issue: () => IssuedToken, bypass?: boolean): IssuedToken
  /** Forgets every token, or those whose key starts with `prefix` (what restarting an identity does). */
  clear(prefix?: string): void
}

/** Creates the cache; `false` makes every request issue a new token. */
export function createTokenCache(settings: TokenCacheSettings | false): TokenCache {
  const entries = new Map<string, { issued: IssuedToken; until: number }>()
  return {
    get(key, issue, bypass = false) {
      const now = Date.now()
      const hit = entries.get(key)
      if (hit !== undefined && !bypass && now < hit.until) return hit.issued
      const issued = issue()
      if (settings !== false) {
        const byMargin = (issued.exp - settings.refreshMargin) * 1000
        const byLifetime = settings.lifetime === undefined ? byMargin : now + settings.lifetime * 1000
        entries.set(key, { issued, until: Math.min(byMargin, byLifetime) })
      }
      return issued
    },
    clear(prefix) {
      if (prefix === undefined) entries.clear()
      else for (const key of entries.keys()) if (key.startsWith(prefix)) entries.delete(key)
    },
  }
}
