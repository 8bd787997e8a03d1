import { AuthError } from './errors.js'

/**
 * A request's headers as a framework holds them: Node's `rawHeaders` (name, value, name, value, …), a Fetch
 * `Headers`, or a record of lower-case names to values (arrays for repeated headers).
 */
export type HeaderSource =
  | readonly string[]
  | Pick<Headers, 'get'>
  | Readonly<Record<string, string | readonly string[] | undefined>>

/** What {@link authorizationOf} needs of a request: its headers, its URL and, when already parsed, its body. */
export interface RequestShape {
  headers: HeaderSource
  /** The request target (`/path?query`) or the full URL. */
  url?: string | undefined
  /** The parsed body, if the framework parsed one before authentication; never read from the wire here. */
  body?: unknown
}

const TWO_HEADERS = 'The request carries more than one Authorization header'

/**
 * The request-shape rule every adapter applies before validation (RFC 6750 §2, security-notes A27): exactly
 * one `Authorization` header (Node keeps only the first in `req.headers`, Fetch joins repeats with ", ", and a
 * token68 never holds a comma); a token in the query or form body is never used, and one there *and* in the
 * header is a 400. Returns the header value to validate, or `undefined` when there is none.
 *
 * @example
 * const header = authorizationOf({ headers: req.rawHeaders, url: req.url, body: req.body })
 * const principal = await validator.validate(header)
 */
export function authorizationOf(request: RequestShape): string | undefined {
  const value = authorizationOrRefusal(request)
  if (value instanceof AuthError) throw value
  return value
}

/** {@link authorizationOf} without a throw: the header value, `undefined`, or the refusal (the hot path). */
export function authorizationOrRefusal(request: RequestShape): string | undefined | AuthError {
  const value = headerValue(request.headers)
  if (value === undefined || value instanceof AuthError) return value
  if (value.includes(',')) {
    return new AuthError('malformed_request', {
      description: TWO_HEADERS,
      detail:
        'The Authorization value holds a comma: several Authorization headers (joined by the server or a proxy) or a list of credentials; send exactly one Bearer token',
    })
  }
  if (inQuery(request.url) || inBody(request.body)) {
    return new AuthError('malformed_request', {
      description: 'The token was sent in more than one way',
      detail:
        'A token arrived in the Authorization header and also as access_token in the query or body; RFC 6750 allows exactly one method',
    })
  }
  return value
}

function headerValue(headers: HeaderSource): string | undefined | AuthError {
  if (Array.isArray(headers)) return fromRaw(headers as readonly string[])
  if (typeof (headers as Pick<Headers, 'get'>).get === 'function') {
    return (headers as Pick<Headers, 'get'>).get('authorization') ?? undefined
  }
  const record = headers as Readonly<Record<string, string | readonly string[] | undefined>>
  const value = record.authorization ?? record.Authorization
  if (value === undefined || typeof value === 'string') return value
  if (value.length > 1) return twoHeaders(value.length)
  return value[0]
}

function fromRaw(raw: readonly string[]): string | undefined | AuthError {
  let value: string | undefined
  let count = 0
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string
    // The two usual spellings first: no lower-cased copy of every 13-character header name.
    if (
      name.length === 13 &&
      (name === 'Authorization' || name === 'authorization' || name.toLowerCase() === 'authorization')
    ) {
      count++
      value = raw[i + 1]
    }
  }
  if (count > 1) return twoHeaders(count)
  return value
}

function twoHeaders(count: number): AuthError {
  return new AuthError('malformed_request', {
    description: TWO_HEADERS,
    detail: `${count} Authorization headers; send exactly one`,
  })
}

function inQuery(url: string | undefined): boolean {
  if (url === undefined) return false
  const q = url.indexOf('?')
  return (
    q !== -1 && url.includes('access_token', q) && new URLSearchParams(url.slice(q + 1)).has('access_token')
  )
}

function inBody(body: unknown): boolean {
  if (typeof body !== 'object' || body === null) return false
  if (typeof (body as URLSearchParams).has === 'function' && body instanceof URLSearchParams) {
    return body.has('access_token')
  }
  return Object.hasOwn(body, 'access_token')
}
