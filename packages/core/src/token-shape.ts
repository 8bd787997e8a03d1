// Three base64url segments. The hot path does not scan a token with it: canonicalJws() decodes the three
// segments (which validation needs anyway) and checks that each encodes back to itself, which holds exactly
// for non-empty canonical base64url. The scan is the fallback that classifies what is not.
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

/** The three segments of a compact JWS, decoded. */
export interface JwsParts {
  header: Buffer
  payload: Buffer
  signature: Buffer
  /** Index of the second dot: `token.slice(0, signed)` is what the signature covers. */
  signed: number
}

let lastShaped: string | undefined
let lastParts: JwsParts | undefined

/**
 * True when `token` is three non-empty base64url segments (canonical padding is checked later, by decodeToken).
 *
 * @example
 * hasJwsShape('eyJhbGciOiJSUzI1NiJ9.e30.c2ln') // true
 */
export function hasJwsShape(token: string): boolean {
  if (!JWS.test(token)) return false
  lastShaped = token
  lastParts = undefined
  return true
}

/**
 * True when `token` is three non-empty segments of canonical base64url (one spelling per byte string, no
 * padding): then a JWS shape and a valid RFC 6750 b64token. Its decoded segments are kept for
 * {@link decodedParts}, so the token is decoded once and scanned never.
 *
 * @example
 * canonicalJws('eyJhbGciOiJSUzI1NiJ9.e30.c2ln') // true
 */
export function canonicalJws(token: string): boolean {
  const first = token.indexOf('.')
  if (first < 1) return false
  const second = token.indexOf('.', first + 1)
  if (second === -1 || second === first + 1 || second === token.length - 1 || token.includes('.', second + 1))
    return false
  const header = decoded(token.slice(0, first))
  const payload = header === undefined ? undefined : decoded(token.slice(first + 1, second))
  const signature = payload === undefined ? undefined : decoded(token.slice(second + 1))
  if (header === undefined || payload === undefined || signature === undefined) return false
  lastShaped = token
  lastParts = { header, payload, signature, signed: second }
  return true
}

// Node's decoder also takes '+', '/', padding and skips stray characters: only a segment that encodes back
// to itself is canonical base64url.
function decoded(segment: string): Buffer | undefined {
  const bytes = Buffer.from(segment, 'base64url')
  return bytes.toString('base64url') === segment ? bytes : undefined
}

/**
 * Whether {@link hasJwsShape} or {@link canonicalJws} already said yes to this very token. The comparison is
 * by content, so a stale memo can only ever be right; it is O(1) for the same string object, which
 * validate() passes along.
 *
 * @example
 * if (!wasShaped(token)) scanSegments(token)
 */
export function wasShaped(token: string): boolean {
  return token === lastShaped
}

/** The decoded segments of the token {@link canonicalJws} last accepted, if it is this one. */
export function decodedParts(token: string): JwsParts | undefined {
  return token === lastShaped ? lastParts : undefined
}
