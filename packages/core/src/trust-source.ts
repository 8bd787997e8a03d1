import { AuthError } from './errors.js'
import { type AuthEventHandler, safeEmit } from './events.js'
import { FetchFailure, type FetchLimits, fetchJson } from './fetch-json.js'
import { isTrustedUrl } from './options.js'
import { parseKeySet, type SigningKey } from './signing-keys.js'

/** What one OpenID configuration document and its key set say. */
export interface TrustSnapshot {
  /** The document's issuer: concrete, or a template with `{tenantid}`. */
  issuer: string
  jwksUri: string
  keys: ReadonlyMap<string, SigningKey>
}

export interface TrustSourceOptions {
  metadataUrl: string
  fetch: typeof fetch
  limits: FetchLimits
  /** Least time between two fetches caused by unknown kids, from the last fetch of any kind. */
  cooldown: number
  refreshInterval: number
  /** How long the last good keys keep serving while every refresh fails. */
  maxStale: number
  now: () => number
  onEvent: AuthEventHandler | undefined
  /** Checks the document's issuer; returns a problem or undefined. */
  checkIssuer: (issuer: string) => string | undefined
  /** For apps with custom signing keys: `?appid=` on the key set address. */
  appId: string | undefined
}

/**
 * The metadata and keys of one issuer document: fetched once, refreshed in the background and on unknown
 * kids (at most once per cooldown), shared by concurrent callers, and kept when a refresh fails.
 */
export class TrustSource {
  readonly #o: TrustSourceOptions
  #snapshot: TrustSnapshot | undefined
  #lastFetchAt = Number.NEGATIVE_INFINITY
  #lastSuccessAt = Number.NEGATIVE_INFINITY
  #failures = 0
  #lastError: string | undefined
  #inflight: Promise<boolean> | undefined
  #timer: NodeJS.Timeout | undefined
  #closed = false
  /** Number of refresh attempts (metadata + key set), for tests and diagnostics. */
  fetchCount = 0

  constructor(options: TrustSourceOptions) {
    this.#o = options
  }

  /** The snapshot when it can be used right now without a fetch; lets the hot path skip an await. */
  peek(): TrustSnapshot | undefined {
    return this.#snapshot !== undefined && this.#o.now() - this.#lastSuccessAt <= this.#o.maxStale
      ? this.#snapshot
      : undefined
  }

  /** The current snapshot, fetching it when there is none (or when it is older than `maxStale`). */
  async current(): Promise<TrustSnapshot> {
    const now = this.#o.now()
    const stale = now - this.#lastSuccessAt > this.#o.maxStale
    if (this.#snapshot === undefined || stale) {
      if (this.#inflight !== undefined || now >= this.#nextColdAttempt()) await this.refresh()
      if (this.#snapshot === undefined || this.#o.now() - this.#lastSuccessAt > this.#o.maxStale) {
        this.#snapshot = undefined
        throw this.#unavailable()
      }
    }
    return this.#snapshot
  }

  /** The key with this kid, refreshing once if it is unknown and the cooldown allows. */
  async findKey(kid: string): Promise<SigningKey | undefined> {
    const snapshot = await this.current()
    const known = snapshot.keys.get(kid)
    if (known !== undefined) return known
    if (this.#inflight === undefined && this.#o.now() - this.#lastFetchAt < this.#o.cooldown) return undefined
    await this.refresh()
    return this.#snapshot?.keys.get(kid)
  }

  /** True when the last refresh failed, with its reason. */
  get lastError(): string | undefined {
    return this.#lastError
  }

  /** Fetches metadata and keys now; concurrent calls share one fetch. Resolves to whether it succeeded. */
  refresh(): Promise<boolean> {
    this.#inflight ??= this.#load().finally(() => {
      this.#inflight = undefined
    })
    return this.#inflight
  }

  close(): void {
    this.#closed = true
    if (this.#timer !== undefined) clearTimeout(this.#timer)
  }

  #nextColdAttempt(): number {
    if (this.#failures === 0) return Number.NEGATIVE_INFINITY
    const backoff = Math.min(this.#o.cooldown, 1000 * 2 ** (this.#failures - 1))
    return this.#lastFetchAt + backoff
  }

  #unavailable(): AuthError {
    const retryAfter = Math.max(1, (this.#nextColdAttempt() - this.#o.now()) / 1000)
    return new AuthError('metadata_unavailable', {
      description: 'The identity provider is unavailable; try again later',
      detail: `No usable signing keys: ${this.#lastError ?? 'the keys have not been fetched'}. Check that ${this.#o.metadataUrl} is reachable from this host`,
      retryAfter,
    })
  }

  async #load(): Promise<boolean> {
    this.#lastFetchAt = this.#o.now()
    this.fetchCount++
    let jwksUri = this.#o.metadataUrl
    try {
      const metadata = await fetchJson(this.#o.fetch, this.#o.metadataUrl, this.#o.limits)
      const { issuer, jwks_uri } = (
        typeof metadata === 'object' && metadata !== null ? metadata : {}
      ) as Record<string, unknown>
      if (typeof issuer !== 'string' || typeof jwks_uri !== 'string') {
        throw new FetchFailure(
          `${this.#o.metadataUrl} is not an OpenID configuration (no issuer or jwks_uri)`,
        )
      }
      const problem = this.#o.checkIssuer(issuer)
      if (problem !== undefined) throw new FetchFailure(`${this.#o.metadataUrl}: ${problem}`)
      jwksUri = this.#withAppId(jwks_uri)
      if (!isTrustedUrl(jwksUri)) {
        throw new FetchFailure(`jwks_uri ${jwks_uri} is not https (plain http is accepted only on loopback)`)
      }
      const document = await fetchJson(this.#o.fetch, jwksUri, this.#o.limits)
      let parsed: Awaited<ReturnType<typeof parseKeySet>>
      try {
        parsed = await parseKeySet(document)
      } catch (cause) {
        throw new FetchFailure(`${jwksUri}: ${(cause as Error).message}`, { cause })
      }
      if (parsed.keys.size === 0) {
        throw new FetchFailure(
          `${jwksUri} holds no usable RSA signing key${parsed.skipped.length > 0 ? ` (${parsed.skipped.slice(0, 5).join('; ')})` : ''}`,
        )
      }
      this.#snapshot = { issuer, jwksUri, keys: parsed.keys }
      this.#lastSuccessAt = this.#o.now()
      this.#failures = 0
      this.#lastError = undefined
      safeEmit(this.#o.onEvent, {
        type: 'keys.refreshed',
        at: new Date(this.#o.now()),
        url: jwksUri,
        keyCount: parsed.keys.size,
      })
      this.#schedule()
      return true
    } catch (err) {
      if (!(err instanceof FetchFailure)) throw err
      this.#failures++
      this.#lastError = err.message
      safeEmit(this.#o.onEvent, {
        type: 'keys.refresh_failed',
        at: new Date(this.#o.now()),
        url: jwksUri,
        reason:
          this.#snapshot === undefined ? err.message : `${err.message}; the last good keys keep serving`,
      })
      if (this.#snapshot !== undefined) this.#schedule()
      return false
    }
  }

  #withAppId(uri: string): string {
    if (this.#o.appId === undefined) return uri
    try {
      const url = new URL(uri)
      if (!url.searchParams.has('appid')) url.searchParams.set('appid', this.#o.appId)
      return url.toString()
    } catch {
      return uri
    }
  }

  #schedule(): void {
    if (this.#closed) return
    if (this.#timer !== undefined) clearTimeout(this.#timer)
    // Up to 5% jitter, as Microsoft.IdentityModel does, so a fleet does not refresh in step.
    const delay = this.#o.refreshInterval * (1 + Math.random() * 0.05)
    this.#timer = setTimeout(() => {
      this.refresh().catch(() => {})
    }, delay)
    this.#timer.unref()
  }
}
