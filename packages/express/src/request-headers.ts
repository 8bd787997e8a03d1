import { AuthError } from '@entraguard/core'

/** The parts of a Node request that tell whether the token arrived in more than one place. */
export interface RawRequest {
  rawHeaders: string[]
  url?: string | undefined
  body?: unknown
}

/**
 * Node keeps only the first `Authorization` header in `req.headers`; a second one must not pass unseen
 * (security-notes A27). A token in the query or form body is never used, and one there *and* in the header
 * is a 400 (RFC 6750 §2). Returns the header value to validate.
 */
export function authorizationOf(req: RawRequest): string | undefined {
  let value: string | undefined
  let count = 0
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (
      (req.rawHeaders[i] as string).length === 13 &&
      (req.rawHeaders[i] as string).toLowerCase() === 'authorization'
    ) {
      count++
      value = req.rawHeaders[i + 1]
    }
  }
  if (count > 1) {
    throw new AuthError('malformed_request', {
      description: 'The request carries more than one Authorization header',
      detail: `${count} Authorization headers; send exactly one`,
    })
  }
  if (value !== undefined && (inQuery(req.url) || inBody(req.body))) {
    throw new AuthError('malformed_request', {
      description: 'The token was sent in more than one way',
      detail:
        'A token arrived in the Authorization header and also as access_token in the query or body; RFC 6750 allows exactly one method',
    })
  }
  return value
}

function inQuery(url: string | undefined): boolean {
  if (url === undefined) return false
  const q = url.indexOf('?')
  return q !== -1 && new URLSearchParams(url.slice(q + 1)).has('access_token')
}

function inBody(body: unknown): boolean {
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'access_token')
}
