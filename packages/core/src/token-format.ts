import { MAX_TOKEN_LENGTH } from './bearer.js'
import { AuthError } from './errors.js'
import { parseStrictJson } from './strict-json.js'
import { decodedParts, type JwsParts, wasShaped } from './token-shape.js'

/** A JWS compact token split and decoded, not yet verified. */
export interface DecodedToken {
  /** The protected header, null-prototype. */
  header: Record<string, unknown>
  /** The payload, null-prototype. */
  payload: Record<string, unknown>
  /** `header.payload` as bytes, what the signature covers. */
  signingInput: Buffer
  signature: Buffer
}

const SEGMENT = /^[A-Za-z0-9_-]+$/
const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

function malformed(detail: string): AuthError {
  return new AuthError('malformed_token', { description: 'The token is malformed', detail })
}

// Base64url has one canonical spelling per byte string: the unused low bits of the last character must be
// zero. Node's decoder ignores them, so without this check 4 or 16 different strings verify as the same
// signature (security-notes A25).
function isCanonical(segment: string): boolean {
  const rest = segment.length % 4
  if (rest === 1) return false
  if (rest === 0) return true
  const last = B64URL.indexOf(segment[segment.length - 1] as string)
  return rest === 2 ? (last & 0x0f) === 0 : (last & 0x03) === 0
}

function decodeSegment(bytes: Buffer, what: string): Record<string, unknown> | AuthError {
  const parsed = parseStrictJson(bytes)
  if ('problem' in parsed) return malformed(`The token's ${what} ${parsed.problem}`)
  const { value } = parsed
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return malformed(`The token's ${what} is not a JSON object`)
  }
  // Null prototype: a signed "__proto__" member (JSON.parse makes it a plain own property) stays one, and no
  // lookup such as `claims.roles` can reach Object.prototype (security-notes A23). Set in place rather than
  // copied into Object.create(null): V8 keeps the parsed object's fast shape (a copy is a dictionary, ~230 B
  // more per cached token, and slower to build).
  return Object.setPrototypeOf(value, null) as Record<string, unknown>
}

function checkSegments(h: string, p: string, s: string): AuthError | undefined {
  return checkSegment(h, 'header') ?? checkSegment(p, 'payload') ?? checkSegment(s, 'signature')
}

function checkSegment(segment: string, what: string): AuthError | undefined {
  if (SEGMENT.test(segment) && isCanonical(segment)) return undefined
  return malformed(`The token's ${what} is not canonical base64url (padding, whitespace or stray characters)`)
}

/**
 * Splits a compact JWS and decodes its header and payload after checking that every segment is canonical
 * base64url and holds strict JSON (UTF-8, no duplicate names: see {@link parseStrictJson}). Returns
 * `malformed_token` otherwise (a refusal is returned, not thrown: refusals are a hot path too).
 */
export function decodeToken(token: string): DecodedToken | AuthError {
  if (token.length > MAX_TOKEN_LENGTH)
    return malformed(`The token has ${token.length} characters; the limit is ${MAX_TOKEN_LENGTH}`)
  // Decoded and proven canonical by the Authorization header's parse (bearerToken): no second pass, not even
  // for the dots.
  let parts = decodedParts(token)
  if (parts === undefined) {
    const shape = splitSegments(token)
    if (shape instanceof AuthError) return shape
    parts = shape
  }
  const header = decodeSegment(parts.header, 'header')
  if (header instanceof AuthError) return header
  const payload = decodeSegment(parts.payload, 'payload')
  if (payload instanceof AuthError) return payload
  return {
    header,
    payload,
    signingInput: Buffer.from(token.slice(0, parts.signed), 'latin1'),
    signature: parts.signature,
  }
}

/** The three segments of a token that bearerToken did not decode: checked, then decoded. */
function splitSegments(token: string): JwsParts | AuthError {
  const first = token.indexOf('.')
  const second = first === -1 ? -1 : token.indexOf('.', first + 1)
  if (first === -1 || second === -1 || token.indexOf('.', second + 1) !== -1) {
    let dots = 0
    for (let at = token.indexOf('.'); at !== -1; at = token.indexOf('.', at + 1)) dots++
    return malformed(
      dots === 4
        ? 'The token has five parts: it is encrypted (JWE). Entra encrypts tokens only for SAML apps; ask for an unencrypted access token'
        : `A JWT has three dot-separated parts; this one has ${dots + 1}`,
    )
  }
  const h = token.slice(0, first)
  const p = token.slice(first + 1, second)
  const s = token.slice(second + 1)
  const shape =
    wasShaped(token) && isCanonical(h) && isCanonical(p) && isCanonical(s)
      ? undefined
      : checkSegments(h, p, s)
  if (shape !== undefined) return shape
  return {
    header: Buffer.from(h, 'base64url'),
    payload: Buffer.from(p, 'base64url'),
    signature: Buffer.from(s, 'base64url'),
    signed: second,
  }
}
