import { KeyObject } from 'node:crypto'
import { importJWK } from 'jose'

/** A verification key from the issuer's key set. */
export interface SigningKey {
  kid: string
  key: KeyObject
  /** The key's own `issuer` (v2 key sets), possibly with `{tenantid}`. */
  issuer: string | undefined
}

/** The usable keys of a key set, and why the others were skipped. */
export interface ParsedKeySet {
  keys: Map<string, SigningKey>
  skipped: string[]
}

const MIN_RSA_BITS = 2048

/**
 * Reads a JWK Set and imports its RSA signature keys once, into KeyObjects, so that a request never pays
 * for key parsing. Keys for encryption, keys under 2048 bits, keys that declare another algorithm and
 * keys that are not RSA are skipped (security-notes A10, A11).
 */
export async function parseKeySet(document: unknown): Promise<ParsedKeySet> {
  const keys = new Map<string, SigningKey>()
  const skipped: string[] = []
  const list =
    typeof document === 'object' && document !== null ? (document as { keys?: unknown }).keys : undefined
  if (!Array.isArray(list)) {
    throw new TypeError('the key set is not a JWK Set (no "keys" array)')
  }
  for (const [index, entry] of list.slice(0, 200).entries()) {
    if (typeof entry !== 'object' || entry === null) {
      skipped.push(`#${index}: not an object`)
      continue
    }
    const jwk = entry as Record<string, unknown>
    const kid = jwk.kid
    const label = typeof kid === 'string' ? kid : `#${index}`
    const reason = unusable(jwk)
    if (reason !== undefined) {
      skipped.push(`${label}: ${reason}`)
      continue
    }
    try {
      // jose checks the JWK's shape; the KeyObject lets the hot path verify synchronously with node:crypto.
      const imported = await importJWK({ kty: 'RSA', n: jwk.n as string, e: jwk.e as string }, 'RS256')
      const key = imported instanceof Uint8Array ? undefined : KeyObject.from(imported)
      const bits = key?.asymmetricKeyDetails?.modulusLength ?? 0
      if (key === undefined || bits < MIN_RSA_BITS) {
        skipped.push(`${label}: RSA key of ${bits} bits, under ${MIN_RSA_BITS}`)
        continue
      }
      keys.set(kid as string, {
        kid: kid as string,
        key,
        issuer: typeof jwk.issuer === 'string' ? jwk.issuer : undefined,
      })
    } catch (err) {
      skipped.push(`${label}: ${err instanceof Error ? err.message : String(err)}`)
    }
  }
  return { keys, skipped }
}

function unusable(jwk: Record<string, unknown>): string | undefined {
  if (typeof jwk.kid !== 'string' || jwk.kid === '') return 'no kid'
  if (jwk.kty !== 'RSA') return `kty ${String(jwk.kty)}, not RSA`
  if (jwk.use !== undefined && jwk.use !== 'sig') return `use ${String(jwk.use)}, not sig`
  if (jwk.key_ops !== undefined && !(Array.isArray(jwk.key_ops) && jwk.key_ops.includes('verify'))) {
    return 'key_ops without verify'
  }
  // Entra's keys carry no alg; one that declares another algorithm is not for RS256.
  if (jwk.alg !== undefined && jwk.alg !== 'RS256') return `alg ${String(jwk.alg)}, not RS256`
  if (typeof jwk.n !== 'string' || typeof jwk.e !== 'string') return 'no n or e'
  if (jwk.issuer !== undefined && typeof jwk.issuer !== 'string') return 'issuer is not a string'
  return undefined
}
