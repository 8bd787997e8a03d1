import type { AccessContext } from './audit.js'
import { AuthError, isAuthError } from './errors.js'
import { hotPathOf, LISTENED, rejectSoon, VALIDATE_NOW } from './hot-path.js'
import type { Principal } from './principal.js'
import { authorizationOrRefusal, type RequestShape } from './request-shape.js'
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
  let outcome: Authenticated
  try {
    outcome = authenticateNow(validator, request, options)
  } catch (err) {
    return Promise.reject(err)
  }
  if (outcome instanceof Promise) return outcome
  return outcome instanceof Error ? rejectSoon(outcome) : Promise.resolve(outcome)
}

/**
 * What {@link authenticateNow} gives: the principal, `undefined` (an anonymous request let through, or a
 * refusal report-only let through), the refusal to answer with, or a promise of the first two that rejects
 * with the refusal when keys had to be fetched first.
 */
export type Authenticated = Principal | undefined | AuthError | Promise<Principal | undefined>

/**
 * {@link authenticate} without a promise where none is needed: a reused token, a new token whose key is
 * known, and every refusal that needs no network are answered synchronously, so an adapter adds no promise
 * hop to the request. The one rule for every adapter; `authenticate()` is this, wrapped in a promise.
 *
 * @example
 * const outcome = authenticateNow(validator, { headers: req.rawHeaders, url: req.url }, { optional: false })
 * if (outcome instanceof Promise) outcome.then(done, next)
 * else if (outcome instanceof Error) next(outcome)
 * else done(outcome)
 */
export function authenticateNow(
  validator: Validator,
  request: RequestShape,
  options: AuthenticateOptions,
): Authenticated {
  const { optional = false, reportOnly = false, context } = options
  const hot = hotPathOf(validator)
  const header = authorizationOrRefusal(request)
  if (header instanceof AuthError) {
    // Refused before validation, so the validator has not reported it.
    const type = reportOnly ? 'token.would_reject' : 'token.rejected'
    if (hot?.[LISTENED] !== false) {
      validator.emit({ type, code: header.code, reason: header.detail, ...context })
    }
    if (!reportOnly) return header
    options.onWouldReject?.(header)
    return undefined
  }
  if (optional && header === undefined) return undefined
  const result =
    hot === undefined
      ? Promise.resolve(validator.validate(header, { reportOnly, context }))
      : hot[VALIDATE_NOW](header, reportOnly, context)
  if (result instanceof Promise) {
    return result.then(undefined, (err: unknown) => {
      const answer = isAuthError(err) ? settle(err, validator, options) : err
      if (answer === undefined) return undefined
      throw answer
    })
  }
  return result instanceof Error ? settle(result, validator, options) : result
}

/** What a refusal becomes: `undefined` when let through (optional and no token, or report-only), else the answer. */
function settle(err: AuthError, validator: Validator, options: AuthenticateOptions): AuthError | undefined {
  if (options.optional === true && err.code === 'missing_token') return undefined
  const metadata = resourceMetadataOf(validator)
  const answer = metadata === undefined ? err : (pointTo(err, metadata) as AuthError)
  if (options.reportOnly !== true) return answer
  options.onWouldReject?.(answer)
  return undefined
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
