import type {
  FunctionResult,
  HttpHandler,
  HttpRequest,
  HttpResponse,
  HttpResponseInit,
  InvocationContext,
} from '@azure/functions'
import {
  type Access,
  authenticate,
  authorize,
  ConfigurationError,
  isAuthError,
  type Policy,
  type Principal,
  type Requirement,
  useValidator,
  type ValidatorSource,
} from '@entraguard/core'
import { toHttpResponseInit } from './response-init.js'
import { routeOf } from './route.js'

/**
 * An RBAC permission on a resource computed from the request. A denial is `forbidden` (403).
 *
 * @example
 * { policy, action: 'stocks/delete', resource: (request) => `/portfolios/${request.params.name}` }
 */
export interface FunctionPermission {
  /** From `createPolicy`, `loadPolicy` or `watchPolicy`. */
  policy: Policy
  action: string
  /** The resource path, usually built from `request.params`. */
  resource: (request: HttpRequest) => string
}

/**
 * Options of {@link withEntraAuth}: validator options, or `{ validator }` (one per app, at module scope).
 *
 * @example
 * { validator, requirement: { scopes: ['Stocks.Read'], roles: ['Stocks.Read.All'] } }
 */
export type WithEntraAuthOptions = ValidatorSource & {
  /** Scopes and/or app roles; with both, user tokens need a scope and app tokens a role. */
  requirement?: Requirement | undefined
  permission?: FunctionPermission | undefined
  /**
   * Call the handler with `auth` undefined when the request has *no* token. A bad token is still refused,
   * and so is a missing one when `requirement` or `permission` is set.
   */
  optional?: boolean | undefined
  /**
   * Report-only roll-out: refusals are reported as `token.would_reject` / `access.would_deny` events and the
   * handler runs, with `auth` undefined when the token was refused. Default: the validator's `reportOnly`.
   */
  reportOnly?: boolean | undefined
}

/**
 * An `app.http` handler that also receives the validated caller.
 *
 * @example
 * const list: AuthenticatedHttpHandler = async (request, context, auth) => ({ jsonBody: { caller: auth.clientId } })
 */
export type AuthenticatedHttpHandler<Auth = Principal> = (
  request: HttpRequest,
  context: InvocationContext,
  auth: Auth,
) => FunctionResult<HttpResponseInit | HttpResponse>

/**
 * Wraps an `app.http` handler: validates the bearer token, checks `requirement` and `permission`, and calls
 * the handler with the {@link Principal}. A refusal is *returned* as an `HttpResponseInit` (status,
 * `WWW-Authenticate`, `Retry-After`, JSON `{ error, error_description }`), so the host never turns it into a
 * 500; an `AuthError` thrown by the handler is rendered the same way; any other error is re-thrown.
 * Register the function with `authLevel: 'anonymous'`: the bearer token is the credential, not a function key.
 *
 * @example
 * const validator = createValidator({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' })
 * app.hook.appStart(() => validator.warm().catch(() => {})) // optional: fetch keys before the first call
 * app.http('stocks', { methods: ['GET'], authLevel: 'anonymous',
 *   handler: withEntraAuth({ validator, requirement: { roles: ['Stocks.Read'] } },
 *     async (request, context, auth) => ({ jsonBody: { caller: auth.clientId } })) })
 */
export function withEntraAuth(
  options: WithEntraAuthOptions & ({ optional: true } | { reportOnly: true }),
  handler: AuthenticatedHttpHandler<Principal | undefined>,
): HttpHandler
export function withEntraAuth(
  options: WithEntraAuthOptions & { optional?: false | undefined; reportOnly?: false | undefined },
  handler: AuthenticatedHttpHandler<Principal>,
): HttpHandler
export function withEntraAuth(
  options: WithEntraAuthOptions,
  handler: AuthenticatedHttpHandler<Principal | undefined>,
): HttpHandler
export function withEntraAuth(
  options: WithEntraAuthOptions,
  handler: AuthenticatedHttpHandler<Principal>,
): HttpHandler {
  const { requirement, permission, optional = false, reportOnly: report, ...rest } = options
  checkOptions(permission, handler)
  const { validator } = useValidator(rest as ValidatorSource)
  const reportOnly = report ?? validator.reportOnly === true
  const needsAccess =
    (requirement?.scopes?.length ?? 0) > 0 ||
    (requirement?.roles?.length ?? 0) > 0 ||
    permission !== undefined
  const optionalNow = optional && !needsAccess
  const accessOf = (request: HttpRequest): Access => ({
    requirement,
    permission: permission && {
      policy: permission.policy,
      action: permission.action,
      resource: permission.resource(request),
    },
  })

  return async function entraAuthHandler(request, context) {
    try {
      const where = { method: request.method, route: routeOf(context) }
      const principal = await authenticate(
        validator,
        { headers: request.headers, url: request.url },
        { optional: optionalNow, reportOnly, context: where },
      )
      if (principal !== undefined && needsAccess) {
        authorize(principal, accessOf(request), where, validator, { reportOnly })
      }
      // undefined only reaches handlers typed for it: the `optional: true` / `reportOnly: true` overload
      return await handler(request, context, principal as Principal)
    } catch (err) {
      if (isAuthError(err)) return toHttpResponseInit(err)
      throw err
    }
  }
}

function checkOptions(permission: FunctionPermission | undefined, handler: unknown): void {
  const problems: string[] = []
  if (typeof handler !== 'function') problems.push('the second argument must be the handler function')
  if (permission !== undefined) {
    if (typeof permission.policy?.authorize !== 'function') {
      problems.push('permission.policy must be a Policy (createPolicy, loadPolicy or watchPolicy)')
    }
    if (typeof permission.action !== 'string' || permission.action === '') {
      problems.push("permission.action must be a non-empty string such as 'stocks/delete'")
    }
    if (typeof permission.resource !== 'function') {
      problems.push('permission.resource must be a function (request) => resource path')
    }
  }
  if (problems.length > 0) throw new ConfigurationError(`entraguard: withEntraAuth(): ${problems.join('; ')}`)
}
