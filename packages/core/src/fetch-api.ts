import { type AuthenticateOptions, authenticate } from './authenticate.js'
import { isAuthError } from './errors.js'
import type { Principal } from './principal.js'
import type { Validator } from './validator.js'

/**
 * Authenticates a Fetch API `Request` (Hono, Bun, Deno, Next.js route handlers, Workers): the same rules as
 * every adapter. Repeated `Authorization` headers, which Fetch joins with ", ", are `malformed_request`; a
 * token in the query alone is never used, in the query and the header it is a 400. The body is never read.
 *
 * @example
 * try {
 *   const principal = await authenticateRequest(validator, request)
 * } catch (err) {
 *   return toResponse(err)
 * }
 */
export function authenticateRequest(
  validator: Validator,
  request: Request,
  options?: { optional?: false | undefined },
): Promise<Principal>
export function authenticateRequest(
  validator: Validator,
  request: Request,
  options: AuthenticateOptions,
): Promise<Principal | undefined>
export function authenticateRequest(
  validator: Validator,
  request: Request,
  options: AuthenticateOptions = {},
): Promise<Principal | undefined> {
  return authenticate(validator, { headers: request.headers, url: request.url }, options)
}

/**
 * Renders an {@link AuthError} as a Fetch `Response`: its status, `WWW-Authenticate`, `Retry-After` and the
 * JSON body `{ error, error_description }`, exactly as the other adapters answer. Any other error is
 * re-thrown as it is: a bug is a 500, never a 401.
 *
 * @example
 * catch (err) { return toResponse(err) }
 */
export function toResponse(error: unknown): Response {
  if (!isAuthError(error)) throw error
  return new Response(JSON.stringify(error.toJSON()), {
    status: error.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...error.headers },
  })
}
