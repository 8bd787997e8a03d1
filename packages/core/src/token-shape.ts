// Three base64url segments: the one full scan of a token on the hot path. extractBearerToken asks it first (a
// JWS is a valid b64token), and decodeToken skips its own segment scan for the token last seen here.
const JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/

let lastShaped: string | undefined

/**
 * True when `token` is three non-empty base64url segments (canonical padding is checked later, by decodeToken).
 *
 * @example
 * hasJwsShape('eyJhbGciOiJSUzI1NiJ9.e30.c2ln') // true
 */
export function hasJwsShape(token: string): boolean {
  if (!JWS.test(token)) return false
  lastShaped = token
  return true
}

/**
 * Whether {@link hasJwsShape} already said yes to this very token. The comparison is by content, so a stale
 * memo can only ever be right; it is O(1) for the same string object, which validate() passes along.
 *
 * @example
 * if (!wasShaped(token)) scanSegments(token)
 */
export function wasShaped(token: string): boolean {
  return token === lastShaped
}
