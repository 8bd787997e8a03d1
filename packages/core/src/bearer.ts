import { AuthError } from './errors.js'
import { canonicalJws, hasJwsShape } from './token-shape.js'

/** Tokens longer than this are refused before any decoding (security-notes A24). */
export const MAX_TOKEN_LENGTH = 16 * 1024

// RFC 7235 auth-scheme (token) followed by SP(s) and the credentials.
const SCHEME = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+)(?: +(.*))?$/s
// RFC 6750 b64token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". Tested as "no other
// character, and '=' only at the end": an unanchored search for a stray character runs about twice as fast
// as the anchored pattern over a 1-2 KB token, and refusing a long non-JWS token is mostly this scan.
const NOT_B64TOKEN = /[^A-Za-z0-9\-._~+/=]/
const PADDING = /^=+$/

function isB64Token(value: string): boolean {
  if (value.length === 0 || NOT_B64TOKEN.test(value)) return false
  const pad = value.indexOf('=')
  return pad === -1 || (pad > 0 && PADDING.test(value.slice(pad)))
}

/**
 * Takes the value of an `Authorization` header, or a bare token, and returns the token.
 * No value or another scheme → `missing_token`; a broken Bearer credential → `malformed_request`.
 *
 * @example
 * extractBearerToken('Bearer eyJ0eXAi...') // 'eyJ0eXAi...'
 */
export function extractBearerToken(value: unknown): string {
  const token = bearerToken(value)
  if (typeof token !== 'string') throw token
  return token
}

/** {@link extractBearerToken} without a throw: the token, or the refusal (the validator's hot path). */
export function bearerToken(value: unknown): string | AuthError {
  if (value === undefined || value === null) {
    return new AuthError('missing_token', { description: 'No bearer token was sent' })
  }
  if (typeof value !== 'string') {
    return new AuthError('malformed_request', {
      description: 'The Authorization header is malformed',
      detail: `validate() takes the Authorization header value or a bare token as a string; it got ${typeof value}${Array.isArray(value) ? ' (an array: several Authorization headers?)' : ''}`,
    })
  }
  // Fast path for the usual `Bearer <token>`: no trimming or scheme parsing of a 1-2 KB string.
  if (value.length > 7 && value.charCodeAt(6) === 32 && value.charCodeAt(7) !== 32 && isBearer(value)) {
    const token = value.slice(7)
    // A canonical JWS is decoded here, once, and never scanned; anything else is classified by the scans.
    // Without two dots the JWS scan could only fail: a two-segment token is scanned once, not twice.
    if (
      token.length <= MAX_TOKEN_LENGTH &&
      (canonicalJws(token) || (twoDots(token) && hasJwsShape(token)) || isB64Token(token))
    )
      return token
  }
  const trimmed = value.trim()
  if (trimmed === '') {
    return new AuthError('missing_token', { description: 'No bearer token was sent' })
  }
  if (trimmed.length > MAX_TOKEN_LENGTH + 64) {
    return new AuthError('malformed_request', {
      description: 'The Authorization header is too large',
      detail: `Authorization header of ${trimmed.length} characters; tokens are limited to ${MAX_TOKEN_LENGTH}`,
    })
  }
  // A bare token: JWTs hold no spaces and always contain dots.
  if (trimmed.length <= MAX_TOKEN_LENGTH && hasJwsShape(trimmed)) return trimmed
  if (!/\s/.test(trimmed) && trimmed.includes('.') && !/^bearer$/i.test(trimmed)) return trimmed
  const match = SCHEME.exec(trimmed)
  if (match === null) {
    return new AuthError('malformed_request', {
      description: 'The Authorization header is malformed',
      detail: 'The Authorization header does not start with an authentication scheme',
    })
  }
  const scheme = match[1] as string
  if (scheme.toLowerCase() !== 'bearer') {
    return new AuthError('missing_token', {
      description: 'No bearer token was sent',
      detail: `The Authorization header uses the ${scheme.slice(0, 20)} scheme; this API takes Bearer tokens`,
    })
  }
  const credentials = match[2]
  if (credentials === undefined || credentials === '') {
    return new AuthError('malformed_request', {
      description: 'The bearer token is empty',
      detail: 'The Authorization header says Bearer but carries no token',
    })
  }
  if (!hasJwsShape(credentials) && !isB64Token(credentials)) {
    return new AuthError('malformed_request', {
      description: 'The Authorization header is malformed',
      detail: /[\s,]/.test(credentials)
        ? 'The Authorization header carries more than one token (or a list of headers joined by commas)'
        : 'The bearer token holds characters that a token cannot hold',
    })
  }
  return credentials
}

function twoDots(token: string): boolean {
  const first = token.indexOf('.')
  return first !== -1 && token.indexOf('.', first + 1) !== -1
}

// `Bearer` in any case, without slicing or a regular expression.
function isBearer(value: string): boolean {
  return (
    (value.charCodeAt(0) | 0x20) === 0x62 &&
    (value.charCodeAt(1) | 0x20) === 0x65 &&
    (value.charCodeAt(2) | 0x20) === 0x61 &&
    (value.charCodeAt(3) | 0x20) === 0x72 &&
    (value.charCodeAt(4) | 0x20) === 0x65 &&
    (value.charCodeAt(5) | 0x20) === 0x72
  )
}
