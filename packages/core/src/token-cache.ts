import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { compactPrincipal, type Principal } from './principal.js'
import { decodedParts, wasShaped } from './token-shape.js'

const MAX_SHARED = 4096
// base64url length of 256 bytes: the shortest RS256 signature of a key entraguard accepts (2048 bits).
const MIN_SIGNATURE = 342
const MIN_SIGNATURE_BYTES = 256
// The last 12 characters of the signature (72 bits) name a token in the cache. Shorter than V8's sliced strings
// (13), so the name is a copy and never keeps the whole token alive.
const TAIL = 12
// The tokens served most: kept verbatim, so that a hit costs one string comparison instead of a SHA-256.
const HOT = 64

interface Entry {
  principal: Principal
  /** Epoch ms until which a fresh validation would also pass: (exp + clockTolerance) * 1000. */
  until: number
  /** SHA-256 of the whole token (32 latin1 characters): a hit is the same token, not one with the same tail. */
  digest: string
}

interface HotEntry {
  token: string
  entry: Entry
}

const digestOf = (token: string): string => hash('sha256', token, 'binary')

/**
 * The validated-token cache, bounded by `maxEntries`, each entry served until its token's `exp` (plus
 * tolerance). A token is named by the tail of its signature and recognised by the SHA-256 of the whole token,
 * so a new token costs no hashing at all and a cached one a single hash; the few tokens served most are kept
 * verbatim and recognised by comparison, with no hash.
 *
 * A token is admitted on its second sighting, not its first (a "doorkeeper", as in TinyLFU): a managed
 * identity reuses its token for hours and is cached from its second request on, while a flood of one-off
 * tokens neither evicts the reused ones nor fills the heap with principals that are never asked for again.
 * Only validated tokens are ever recorded; a token that shares a cached token's tail but not its digest is
 * validated in full, like any other.
 */
export class TokenCache {
  readonly #lru: LRUCache<string, Entry>
  readonly #hot = new Map<string, HotEntry>()
  readonly #seen = new Set<string>()
  readonly #maxSeen: number
  // One instance of each string that cached principals repeat (issuer, tenant, caller IDs, role names).
  // Bounded: forgotten all at once when full; only validated tokens ever reach it.
  readonly #shared = new Map<string, string>()
  readonly #share = (value: string): string => {
    const known = this.#shared.get(value)
    if (known !== undefined) return known
    if (this.#shared.size >= MAX_SHARED) this.#shared.clear()
    this.#shared.set(value, value)
    return value
  }

  // The same for frozen roles / scopes / groups lists, keyed by their members.
  readonly #lists = new Map<string, readonly string[]>()
  readonly #shareList = (list: readonly string[]): readonly string[] => {
    // JSON: unambiguous, whatever the members hold (a joined string could make two lists one key).
    const key = JSON.stringify(list)
    const known = this.#lists.get(key)
    if (known !== undefined) return known
    const kept = Object.freeze(list.map(this.#share))
    if (this.#lists.size >= MAX_SHARED) this.#lists.clear()
    this.#lists.set(key, kept)
    return kept
  }

  constructor(maxEntries: number) {
    this.#lru = new LRUCache<string, Entry>({ max: maxEntries })
    // Sightings are 12-character tails: room for more of them than of principals is cheap.
    this.#maxSeen = Math.max(maxEntries, 1024)
  }

  /**
   * The name of a token in the cache: the tail of its signature; '' (never stored) for a token that cannot
   * pass, so garbage costs nothing here: not three base64url segments, or a signature shorter than an RS256
   * signature with a 2048-bit key (256 bytes, 342 characters).
   */
  tail(token: string): string {
    // The signature's decoded length, known from the header's parse: no backward scan for the last dot
    // (String.prototype.lastIndexOf is a runtime call, ≈2,000 instructions over a 1.4 KB token).
    const parts = decodedParts(token)
    if (parts !== undefined) return parts.signature.length < MIN_SIGNATURE_BYTES ? '' : token.slice(-TAIL)
    // A token shaped by the scan (a bare token given to validate()): measured by its last dot.
    if (!wasShaped(token) || token.length - token.lastIndexOf('.') - 1 < MIN_SIGNATURE) return ''
    return token.slice(-TAIL)
  }

  /**
   * The principal of one of the most served tokens, recognised by comparing the whole token: before any scan
   * of it, since only a validated token is ever kept verbatim.
   */
  served(token: string, now: number): Principal | undefined {
    if (this.#hot.size === 0 || token.length < MIN_SIGNATURE) return undefined
    const hot = this.#hot.get(token.slice(-TAIL))
    return hot !== undefined && hot.token === token && now <= hot.entry.until
      ? hot.entry.principal
      : undefined
  }

  /**
   * The cached principal of exactly this token, if its validation is still good at `now` (epoch ms). The
   * verbatim few were asked first, by {@link served}; a hit here joins them.
   */
  get(token: string, tail: string, now: number): Principal | undefined {
    const entry = this.#lru.get(tail)
    if (entry === undefined || entry.digest !== digestOf(token)) return undefined
    if (now <= entry.until) {
      this.#promote(tail, token, entry)
      return entry.principal
    }
    this.#hot.delete(tail)
    this.#lru.delete(tail)
    return undefined
  }

  /** Records a fresh validation: cached if this token was seen before, remembered otherwise. */
  add(token: string, tail: string, principal: Principal, until: number): void {
    if (this.#seen.delete(tail)) {
      this.#lru.set(tail, {
        principal: compactPrincipal(principal, this.#share, this.#shareList),
        until,
        digest: digestOf(token),
      })
      return
    }
    // Forget all one-off sightings at once when full: cheaper than an LRU, and a reused token is seen again soon.
    if (this.#seen.size >= this.#maxSeen) this.#seen.clear()
    this.#seen.add(tail)
  }

  // A token served from the cache joins the verbatim few; the oldest of them leaves when they are full.
  #promote(tail: string, token: string, entry: Entry): void {
    if (this.#hot.size >= HOT) {
      const oldest = this.#hot.keys().next()
      if (oldest.done !== true) this.#hot.delete(oldest.value)
    }
    this.#hot.set(tail, { token, entry })
  }

  /** Forgets every validation, e.g. when a signing key was withdrawn from the key set. */
  clear(): void {
    this.#lru.clear()
    this.#hot.clear()
    this.#seen.clear()
    this.#shared.clear()
    this.#lists.clear()
  }

  get size(): number {
    return this.#lru.size
  }
}
