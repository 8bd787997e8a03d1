import type { HttpResponseInit } from '@azure/functions'
import { isAuthError } from '@entraguard/core'

/**
 * Renders an {@link AuthError} as the `HttpResponseInit` a handler returns: its status, `WWW-Authenticate`,
 * `Retry-After` and the JSON body `{ error, error_description }`, exactly as the other adapters answer. Any
 * other error is re-thrown as it is: a bug is the host's 500, never a 401.
 *
 * @example
 * try {
 *   await checkOwnership(auth, order)
 * } catch (err) {
 *   return toHttpResponseInit(err)
 * }
 */
export function toHttpResponseInit(error: unknown): HttpResponseInit {
  if (!isAuthError(error)) throw error
  return {
    status: error.status,
    headers: { 'content-type': 'application/json; charset=utf-8', ...error.headers },
    jsonBody: error.toJSON(),
  }
}
