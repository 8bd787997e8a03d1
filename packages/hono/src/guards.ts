import {
  type Access,
  AuthError,
  authorize,
  ConfigurationError,
  type Policy,
  type Requirement,
} from '@entraguard/core'
import type { Context, MiddlewareHandler } from 'hono'
import { type EntraAuthEnv, type OptionalEntraAuthEnv, refusal, stateOf } from './entra-auth.js'

const GUARD = Symbol.for('entraguard.hono.guard')
type GuardSpec = { name: string; access: (c: Context) => Access }

function guard<P extends string>(
  name: string,
  access: (c: Context<EntraAuthEnv, P>) => Access,
  report?: boolean,
): MiddlewareHandler<EntraAuthEnv, P> {
  const handler: MiddlewareHandler<EntraAuthEnv, P> = async function entraGuard(c, next) {
    const state = stateOf(c)
    if (state === undefined) {
      throw new Error(
        `entraguard: ${name}() runs before entraAuth(); add app.use(entraAuth(...)) ahead of this route`,
      )
    }
    const reportOnly = report ?? state.reportOnly
    // routePath is the pattern this guard was registered with (`/portfolios/:name`), never the concrete path.
    const context = { method: c.req.method, route: c.req.routePath }
    const principal = c.get('auth') as EntraAuthEnv['Variables']['auth'] | undefined
    if (principal === undefined) {
      // A refused token was reported by entraAuth() already; an enforcing guard answers with that refusal.
      if (state.refusal !== undefined) {
        if (!reportOnly) throw refusal(state.refusal)
        await next()
        return
      }
      const missing = new AuthError('missing_token', {
        description: 'No bearer token was sent',
        detail: `${name}() needs a token; this request came without one (entraAuth optional mode)`,
      })
      if (!reportOnly) throw refusal(missing)
      state.validator.emit({
        type: 'token.would_reject',
        code: missing.code,
        reason: missing.detail,
        ...context,
      })
      await next()
      return
    }
    try {
      authorize(principal, access(c), context, state.validator, { reportOnly })
    } catch (err) {
      throw refusal(err)
    }
    await next()
  }
  ;(handler as unknown as Record<symbol, GuardSpec>)[GUARD] = { name, access: access as GuardSpec['access'] }
  return handler
}

/**
 * Sets a guard's own report-only mode, whatever `entraAuth()`'s is: `reportOnly(guard)` reports its denials
 * as `access.would_deny` and lets the request on (so `c.get('auth')` may be unset after it);
 * `reportOnly(guard, false)` enforces it under a report-only `entraAuth()` (a refused token then answers with
 * its own 401 / 400 / 503). Token checks themselves follow `entraAuth()`'s mode.
 *
 * @example
 * app.post('/stocks', reportOnly(requireRoles('Stocks.Write')), (c) => c.json({ by: c.get('auth')?.clientId }))
 */
export function reportOnly<P extends string>(
  handler: MiddlewareHandler<EntraAuthEnv, P>,
  enabled?: true,
): MiddlewareHandler<OptionalEntraAuthEnv, P>
export function reportOnly<P extends string>(
  handler: MiddlewareHandler<EntraAuthEnv, P>,
  enabled: false,
): MiddlewareHandler<EntraAuthEnv, P>
export function reportOnly<P extends string>(
  handler: MiddlewareHandler<EntraAuthEnv, P>,
  enabled = true,
): MiddlewareHandler<EntraAuthEnv, P> | MiddlewareHandler<OptionalEntraAuthEnv, P> {
  const spec = (handler as unknown as Record<symbol, GuardSpec | undefined>)[GUARD]
  if (spec === undefined) {
    throw new ConfigurationError(
      'entraguard: reportOnly() takes a guard of @entraguard/hono (requireRoles, requireScopes, requireAuth, requirePermission)',
    )
  }
  return guard<P>(spec.name, spec.access, enabled)
}

/**
 * Requires delegated scopes (`scp`): any of them, or all with `requireAuth({ scopes, match: 'all' })`.
 *
 * @example
 * app.get('/me', requireScopes('Stocks.Read'), (c) => c.json({ name: c.get('auth').name }))
 */
export function requireScopes(...scopes: string[]): MiddlewareHandler<EntraAuthEnv> {
  const access = { requirement: { scopes } }
  return guard('requireScopes', () => access)
}

/**
 * Requires app roles (`roles`): any of them.
 *
 * @example
 * app.get('/stocks', requireRoles('Stocks.Read'), (c) => c.json({ caller: c.get('auth').clientId }))
 */
export function requireRoles(...roles: string[]): MiddlewareHandler<EntraAuthEnv> {
  const access = { requirement: { roles } }
  return guard('requireRoles', () => access)
}

/**
 * Requires scopes and/or roles; with both, user tokens need a scope and app tokens a role. With no
 * requirement it needs a caller only (useful after `entraAuth({ optional: true })`).
 *
 * @example
 * app.get('/quotes', requireAuth({ scopes: ['Quotes.Read'], roles: ['Quotes.Read.All'] }), handler)
 */
export function requireAuth(requirement: Requirement = {}): MiddlewareHandler<EntraAuthEnv> {
  const access = { requirement }
  return guard('requireAuth', () => access)
}

/**
 * Requires an RBAC permission on a resource computed from the request. A denial is `forbidden` (403).
 *
 * @example
 * app.delete('/stocks/:symbol', requirePermission(policy, 'stocks/delete', (c) => `/stocks/${c.req.param('symbol')}`), handler)
 */
export function requirePermission<P extends string = string>(
  policy: Policy,
  action: string,
  resource: (c: Context<EntraAuthEnv, P>) => string,
): MiddlewareHandler<EntraAuthEnv, P> {
  return guard('requirePermission', (c) => ({ permission: { policy, action, resource: resource(c) } }))
}
