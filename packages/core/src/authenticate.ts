import type { AccessContext } from './audit.js'
import { type AuthError, isAuthError } from './errors.js'
import type { Principal } from './principal.js'
import { authorizationOf, type RequestShape } from './request-shape.js'
import type { ResourceMetadata } from './resource-metadata.js'
import type { Validator } from './validator.js'

/** Options of {@link authenticate}. */
export interface AuthenticateOptions {
  /** Admit a request *without* a token (resolves to `undefined`). A bad token is still refused. */
  optional?: boolean | undefined
  /**
   * Report-only roll-out: a refusal (a missing token too, unless `optional`) is reported as a
   * `token.would_reject` event with the code it would have had, and resolves to `undefined` (no principal)
   * instead of rejecting. Adapters pass their `reportOnly` option, which defaults to `validator.reportOnly`.
   */
  reportOnly?: boolean | undefined
  /** The request's method and route pattern, added to the `token.*` event of a refusal. */
  context?: AccessContext | undefined
  /**
   * Called with the refusal that report-only let through, for guards that run later and enforce (Express
   * and Hono route guards with `reportOnly: false` under a report-only middleware).
   */
  onWouldReject?: ((refusal: AuthError) => void) | undefined
}

/**
 * What every adapter does with a request: apply the request-shape rule ({@link authorizationOf}), then
 * validate the header. Rejects with an {@link AuthError}; with `optional`, a request that carries no bearer
 * token (no header, or another scheme) resolves to `undefined` instead of `missing_token`; with `reportOnly`,
 * every refusal is reported as `token.would_reject` and resolves to `undefined`.
 *
 * @example
 * const principal = await authenticate(validator, { headers: req.rawHeaders, url: req.url, body: req.body })
 */
export function authenticate(
  validator: Validator,
  request: RequestShape,
  options?: AuthenticateOptions & { optional?: false | undefined; reportOnly?: false | undefined },
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
  const { optional = false, reportOnly = false, context } = options
  let header: string | undefined
  try {
    header = authorizationOf(request)
  } catch (err) {
    if (!isAuthError(err)) return Promise.reject(err)
    // Refused before validation, so the validator has not reported it.
    const type = reportOnly ? 'token.would_reject' : 'token.rejected'
    validator.emit({ type, code: err.code, reason: err.detail, ...context })
    if (!reportOnly) return Promise.reject(err)
    options.onWouldReject?.(err)
    return Promise.resolve(undefined)
  }
  if (optional && header === undefined) return Promise.resolve(undefined)
  let result: Promise<Principal | undefined> = validator.validate(header, { reportOnly, context })
  if (optional) result = result.catch(anonymousIfMissing)
  const metadata = resourceMetadataOf(validator)
  if (metadata !== undefined) result = result.catch((err) => Promise.reject(pointTo(err, metadata)))
  if (!reportOnly) return result
  return result.catch((err: unknown) => {
    if (!isAuthError(err)) throw err
    options.onWouldReject?.(err)
    return undefined
  })
}

function anonymousIfMissing(err: unknown): undefined {
  if (isAuthError(err) && err.code === 'missing_token') return undefined
  throw err
}

/** The validator's RFC 9728 metadata, when it was configured with `resourceMetadata`. */
export function resourceMetadataOf(source: unknown): ResourceMetadata | undefined {
  return typeof source === 'object' && source !== null
    ? (source as { resourceMetadata?: ResourceMetadata }).resourceMetadata
    : undefined
}

/**
 * Adds RFC 9728's `resource_metadata` to a refusal's challenge, and writes an `insufficient_scope` scope in
 * the full form clients must request. Refusals without a challenge (403 forbidden, 503) stay as they are.
 */
export function pointTo(err: unknown, metadata: ResourceMetadata): unknown {
  if (!isAuthError(err) || err.wwwAuthenticate === undefined) return err
  const scope = err.scope
  return err.withChallenge({
    resourceMetadata: metadata.url,
    scope:
      err.error === 'insufficient_scope' && scope !== undefined
        ? metadata.fullScope(scope.split(' '))
        : undefined,
  })
}
