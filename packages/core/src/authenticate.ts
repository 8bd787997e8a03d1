import { isAuthError } from './errors.js'
import type { Principal } from './principal.js'
import { authorizationOf, type RequestShape } from './request-shape.js'
import type { ResourceMetadata } from './resource-metadata.js'
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
  const metadata = resourceMetadataOf(validator)
  if (options.optional === true) {
    if (header === undefined) return Promise.resolve(undefined)
    const result = validator.validate(header).catch(anonymousIfMissing)
    return metadata === undefined ? result : result.catch((err) => Promise.reject(pointTo(err, metadata)))
  }
  const result = validator.validate(header)
  return metadata === undefined ? result : result.catch((err) => Promise.reject(pointTo(err, metadata)))
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
