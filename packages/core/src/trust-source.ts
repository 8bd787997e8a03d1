import { AuthError } from './errors.js'
import { type AuthEventHandler, safeEmit } from './events.js'
import { FetchFailure, type FetchLimits, fetchJson } from './fetch-json.js'
import { isTrustedUrl } from './options.js'
import { parseKeySet, type SigningKey } from './signing-keys.js'
import { detached, type KeySetGauge, trackKeySet } from './telemetry.js'

/** What the OpenID configuration documents (one per accepted token version) and the one key set say. */
export interface TrustSnapshot {
  /** Each accepted token version's issuer: concrete, or a template with `{tenantid}`. */
  issuers: ReadonlyMap<1 | 2, string>
  /** The version of the document whose key set signs every token (v2 when v2 is accepted). */
  keysVersion: 1 | 2
  jwksUri: string
  keys: ReadonlyMap<string, SigningKey>
}

/** An OpenID configuration document to read: the first one of a source also names the key set. */
export interface TrustDocument {
  version: 1 | 2
  url: string
}

export interface TrustSourceOptions {
  /** The key document first, then the documents read for their issuer only. */
  documents: readonly [TrustDocument, ...TrustDocument[]]
  fetch: typeof fetch
  limits: FetchLimits
  /** Least time between two fetches caused by unknown kids, from the last fetch of any kind. */
  cooldown: number
  refreshInterval: number
  /** How long the last good keys keep serving while every refresh fails. */
  maxStale: number
  now: () => number
  onEvent: AuthEventHandler | undefined
  /** Checks a document's issuer for its token version; returns a problem or undefined. */
  checkIssuer: (issuer: string, version: 1 | 2) => string | undefined
  /** For apps with custom signing keys: `?appid=` on the key set address. */
  appId: string | undefined
  /** Called when a refresh withdraws a key that the previous key set held. */
  onKeysWithdrawn?: (() => void) | undefined
}

/**
 * One key pool for every accepted token version. Entra publishes the same keys at its v1.0 and v2.0 key-set
 * URLs and Microsoft.Identity.Web validates both versions with the v2.0 keys, so the key set is read from the
 * first document only; the other documents are read for their issuer, once (an issuer does not change as keys
 * do), so that a validator holding good keys rides out an outage for every version. Fetched once, refreshed
 * in the background and on unknown kids (at most once per cooldown), shared by concurrent callers, and kept
 * when a refresh fails.
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
  readonly #keySet: KeySetGauge
  /** Number of refresh attempts (metadata + key set), for tests and diagnostics. */
  fetchCount = 0

  constructor(options: TrustSourceOptions) {
    this.#o = options
    this.#keySet = trackKeySet(options.now)
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
      detail: `No usable signing keys: ${this.#lastError ?? 'the keys have not been fetched'}. Check that ${this.#o.documents[0].url} is reachable from this host`,
      retryAfter,
    })
  }

  async #load(): Promise<boolean> {
    this.#lastFetchAt = this.#o.now()
    this.fetchCount++
    const [keyDocument, ...others] = this.#o.documents
    let jwksUri = keyDocument.url
    try {
      // Issuer-only documents are read until they have been read once, in parallel with the key document.
      const unread = others.filter((d) => this.#snapshot?.issuers.get(d.version) === undefined)
      const [{ issuer, jwks_uri }, read] = await Promise.all([
        this.#readDocument(keyDocument),
        Promise.all(unread.map((d) => this.#readDocument(d))),
      ])
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
      const issuers = new Map(this.#snapshot?.issuers)
      issuers.set(keyDocument.version, issuer)
      for (const [index, d] of unread.entries()) issuers.set(d.version, read[index]?.issuer as string)
      const previous = this.#snapshot?.keys
      this.#snapshot = { issuers, keysVersion: keyDocument.version, jwksUri, keys: parsed.keys }
      if (previous !== undefined && [...previous.keys()].some((kid) => !parsed.keys.has(kid))) {
        this.#o.onKeysWithdrawn?.()
      }
      this.#lastSuccessAt = this.#o.now()
      this.#keySet.fetched(jwksUri, parsed.keys.size)
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

  /** Reads one OpenID configuration document and checks its issuer for its token version. */
  async #readDocument({ url, version }: TrustDocument): Promise<{ issuer: string; jwks_uri: string }> {
    const metadata = await fetchJson(this.#o.fetch, url, this.#o.limits)
    const { issuer, jwks_uri } = (
      typeof metadata === 'object' && metadata !== null ? metadata : {}
    ) as Record<string, unknown>
    if (typeof issuer !== 'string' || typeof jwks_uri !== 'string') {
      throw new FetchFailure(`${url} is not an OpenID configuration (no issuer or jwks_uri)`)
    }
    const problem = this.#o.checkIssuer(issuer, version)
    if (problem !== undefined) throw new FetchFailure(`${url}: ${problem}`)
    return { issuer, jwks_uri }
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
      // Not part of the trace of the request whose fetch scheduled this timer.
      detached(() => this.refresh()).catch(() => {})
    }, delay)
    this.#timer.unref()
  }
}
