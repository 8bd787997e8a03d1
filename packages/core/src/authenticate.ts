import { isAuthError } from './errors.js'
import type { Principal } from './principal.js'
import { authorizationOf, type RequestShape } from './request-shape.js'
import type { Validator } from './validator.js'

/** Options of {@link authenticate}. */
export interface AuthenticateOptions {
  /** Admit a request *without* a token (resolves to `undefined`). A bad token is still refused. */
  optional?: boolean | undefined
}

/**
 * What every adapter does with a request: apply the request-shape rule ({@link authorizationOf}), then
 * validate the header. Rejects with an {@link AuthError}; with `optional`, a request that carries no bearer
 * token (no header, or another scheme) resolves to `undefined` instead of `missing_token`.
 *
 * @example
 * const principal = await authenticate(validator, { headers: req.rawHeaders, url: req.url, body: req.body })
 */
export function authenticate(
  validator: Validator,
  request: RequestShape,
  options?: { optional?: false | undefined },
): Promise<Principal>
export function authenticate(
  validator: Validator,
  request: RequestShape,
  options: AuthenticateOptions,
): Promise<Principal | undefined>
export function authenticate(
  validator: Validator,
  request: RequestShape,
  options: AuthenticateOptions = {},
): Promise<Principal | undefined> {
  let header: string | undefined
  try {
    header = authorizationOf(request)
  } catch (err) {
    return Promise.reject(err)
  }
  if (options.optional !== true) return validator.validate(header)
  if (header === undefined) return Promise.resolve(undefined)
  return validator.validate(header).catch(anonymousIfMissing)
}

function anonymousIfMissing(err: unknown): undefined {
  if (isAuthError(err) && err.code === 'missing_token') return undefined
  throw err
}
