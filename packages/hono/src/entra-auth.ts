import {
  type AuthError,
  authenticateRequest,
  isAuthError,
  type Principal,
  toResponse,
  useValidator,
  type Validator,
  type ValidatorSource,
} from '@entraguard/core'
import type { Context, MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { metadataResponse } from './resource-metadata.js'

declare module 'hono' {
  interface ContextVariableMap {
    /** The validated caller, set by `entraAuth()`. Unset for anonymous requests on `optional: true`. */
    auth?: Principal
  }
}

/** The Hono environment after `entraAuth()` or a guard: `c.get('auth')` is the caller. */
export type EntraAuthEnv = { Variables: { auth: Principal } }

/** The Hono environment after `entraAuth({ optional: true })`: `c.get('auth')` may be unset. */
export type OptionalEntraAuthEnv = { Variables: { auth?: Principal } }

/** Options of {@link entraAuth}: validator options, or a validator you created. */
export type EntraAuthOptions = ValidatorSource & {
  /** Let requests *without* a token through with `c.get('auth')` unset. A bad token is still refused. */
  optional?: boolean
  /**
   * Report-only roll-out: a refused token is reported as `token.would_reject` and the request goes on with
   * `c.get('auth')` unset; guards report `access.would_deny` instead of answering 403. Default: the
   * validator's `reportOnly`. A guard can differ with `reportOnly(guard)` / `reportOnly(guard, false)`.
   */
  reportOnly?: boolean | undefined
}

/** What entraAuth() leaves for the guards after it. */
export interface AuthState {
  validator: Validator
  reportOnly: boolean
  /** The refusal that report-only let through: a guard that enforces answers with it. */
  refusal?: AuthError
}

// Keyed by the request's Context (one per request, shared by sub-apps), so guards find the state of the
// entraAuth() that ran before them without a variable an app could overwrite.
const states = new WeakMap<Context, AuthState>()

/** What the `entraAuth()` that ran for this request left for guards, if one ran. */
export function stateOf(c: Context): AuthState | undefined {
  return states.get(c)
}

/**
 * Turns an {@link AuthError} into the `HTTPException` Hono's error handling expects: its response is core's
 * `toResponse(err)` (the same status, headers and body as every adapter) and its `cause` is the AuthError, so an
 * app's own `onError` can still see it. Any other error is returned as it is (a bug stays a 500).
 */
export function refusal(err: unknown): unknown {
  if (!isAuthError(err)) return err
  return new HTTPException(err.status as ConstructorParameters<typeof HTTPException>[0], {
    res: toResponse(err),
    message: err.message,
    cause: err,
  })
}

/**
 * Hono middleware that validates the bearer token and sets `c.get('auth')`. A refusal is thrown as an
 * `HTTPException` whose response carries the status, `WWW-Authenticate` / `Retry-After` and the JSON body
 * `{ error, error_description }`, and whose `cause` is the {@link AuthError}. With the validator's
 * `resourceMetadata` option it also serves the RFC 9728 document at its paths (when mounted at the root).
 *
 * @example
 * app.use('/api/*', entraAuth({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' }))
 * app.get('/api/whoami', (c) => c.json({ oid: c.get('auth')?.objectId }))
 */
export function entraAuth(
  options: EntraAuthOptions & ({ optional: true } | { reportOnly: true }),
): MiddlewareHandler<OptionalEntraAuthEnv>
export function entraAuth(
  options: EntraAuthOptions & { optional?: false; reportOnly?: false | undefined },
): MiddlewareHandler<EntraAuthEnv>
export function entraAuth(options: EntraAuthOptions): MiddlewareHandler<OptionalEntraAuthEnv>
export function entraAuth(options: EntraAuthOptions): MiddlewareHandler {
  const { optional = false, reportOnly: report, ...rest } = options
  const { validator } = useValidator(rest as ValidatorSource)
  const reportOnly = report ?? validator.reportOnly === true
  const metadata = validator.resourceMetadata
  return async function entraAuthMiddleware(c, next) {
    if (metadata !== undefined && metadata.paths.includes(c.req.path)) {
      return metadataResponse(metadata, c.req.method)
    }
    const state: AuthState = { validator, reportOnly }
    states.set(c, state)
    const mode = {
      optional,
      reportOnly,
      // The route of a handler is not matched yet where app.use() runs: the method is all an event can name.
      context: { method: c.req.method },
      onWouldReject: (refusal: AuthError) => {
        state.refusal = refusal
      },
    }
    // c.req.raw.headers joins repeated Authorization headers with ", " on every runtime (@hono/node-server
    // builds it from Node's rawHeaders), which core's rule refuses as malformed_request.
    const principal = await authenticateRequest(validator, c.req.raw, mode).catch((err: unknown) => {
      throw refusal(err)
    })
    if (principal !== undefined) c.set('auth', principal)
    await next()
  }
}
