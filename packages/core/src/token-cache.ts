import { hash } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { compactPrincipal, type Principal } from './principal.js'
import { wasShaped } from './token-shape.js'

const MAX_SHARED = 4096
// base64url length of 256 bytes: the shortest RS256 signature of a key entraguard accepts (2048 bits).
const MIN_SIGNATURE = 342

interface Entry {
  principal: Principal
  /** Epoch ms until which a fresh validation would also pass: (exp + clockTolerance) * 1000. */
  until: number
}

/**
 * The validated-token cache: keyed by a SHA-256 of the whole token, bounded by `maxEntries`, each entry
 * served until its token's `exp` (plus tolerance).
 *
 * A token is admitted on its second sighting, not its first (a "doorkeeper", as in TinyLFU): a managed
 * identity reuses its token for hours and is cached from its second request on, while a flood of one-off
 * tokens neither evicts the reused ones nor fills the heap with principals that are never asked for again.
 * Measured with `pnpm bench`: admitting on first sight cost ~9 µs per one-off token (insert, eviction, GC).
 */
export class TokenCache {
  readonly #lru: LRUCache<string, Entry>
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
    // Sightings are 32-character keys: room for more of them than of principals is cheap.
    this.#maxSeen = Math.max(maxEntries, 1024)
  }

  /**
   * The cache key of a token: its SHA-256 as a 32-character one-byte (latin1) string (cheaper to make and hold than
   * base64url); '' (never stored) for a token that cannot pass, so that garbage costs no hashing: not three
   * base64url segments, or a signature shorter than an RS256 signature with a 2048-bit key (342 characters).
   */
  key(token: string): string {
    if (!wasShaped(token) || token.length - token.lastIndexOf('.') - 1 < MIN_SIGNATURE) return ''
    return hash('sha256', token, 'binary')
  }

  /** The cached principal, if its validation is still good at `now` (epoch ms). */
  get(key: string, now: number): Principal | undefined {
    if (key === '') return undefined
    const entry = this.#lru.get(key)
    if (entry === undefined) return undefined
    if (now <= entry.until) return entry.principal
    this.#lru.delete(key)
    return undefined
  }

  /** Records a fresh validation: cached if this token was seen before, remembered otherwise. */
  add(key: string, principal: Principal, until: number): void {
    if (key === '') return
    if (this.#seen.delete(key)) {
      this.#lru.set(key, { principal: compactPrincipal(principal, this.#share, this.#shareList), until })
      return
    }
    // Forget all one-off sightings at once when full: cheaper than an LRU, and a reused token is seen again soon.
    if (this.#seen.size >= this.#maxSeen) this.#seen.clear()
    this.#seen.add(key)
  }

  /** Forgets every validation, e.g. when a signing key was withdrawn from the key set. */
  clear(): void {
    this.#lru.clear()
    this.#seen.clear()
    this.#shared.clear()
    this.#lists.clear()
  }

  get size(): number {
    return this.#lru.size
  }
}
