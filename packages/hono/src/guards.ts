import { type Access, AuthError, authorize, type Policy, type Requirement } from '@entraguard/core'
import type { Context, MiddlewareHandler } from 'hono'
import { type EntraAuthEnv, refusal, validatorOf } from './entra-auth.js'

function guard<P extends string>(
  name: string,
  access: (c: Context<EntraAuthEnv, P>) => Access,
): MiddlewareHandler<EntraAuthEnv, P> {
  return async function entraGuard(c, next) {
    const validator = validatorOf(c)
    if (validator === undefined) {
      throw new Error(
        `entraguard: ${name}() runs before entraAuth(); add app.use(entraAuth(...)) ahead of this route`,
      )
    }
    const principal = c.get('auth') as EntraAuthEnv['Variables']['auth'] | undefined
    if (principal === undefined) {
      throw refusal(
        new AuthError('missing_token', {
          description: 'No bearer token was sent',
          detail: `${name}() needs a token; this request came without one (entraAuth optional mode)`,
        }),
      )
    }
    try {
      // routePath is the pattern this guard was registered with (`/portfolios/:name`), never the concrete path.
      authorize(principal, access(c), { method: c.req.method, route: c.req.routePath }, validator)
    } catch (err) {
      throw refusal(err)
    }
    await next()
  }
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
