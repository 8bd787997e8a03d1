import type { Principal, Requirement } from '@entraguard/core'
import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common'
import { addRouteAuth, REPORT_ONLY } from './route-auth.js'

/** The decorators that declare what a controller or handler needs: on a method they replace the class's. */
export type AuthDecorator = ClassDecorator & MethodDecorator

/**
 * Marks a controller or handler as open: the global guard lets it through without a token. On a method it
 * exempts that method from its class's requirements.
 *
 * @example
 * @Get('health') @Public() health() { return { ok: true } }
 */
export function Public(): AuthDecorator {
  return addRouteAuth('Public', { isPublic: true })
}

/**
 * Requires delegated scopes (`scp`): any of them (`@RequireAuth({ scopes, match: 'all' })` for all).
 *
 * @example
 * @Get('me') @Scopes('Stocks.Read') me(@Auth() auth: Principal) { return { name: auth.name } }
 */
export function Scopes(...scopes: string[]): AuthDecorator {
  return addRouteAuth('Scopes', { scopes })
}

/**
 * Requires app roles (`roles`): any of them.
 *
 * @example
 * @Get() @Roles('Stocks.Read') list() { return stocks }
 */
export function Roles(...roles: string[]): AuthDecorator {
  return addRouteAuth('Roles', { roles })
}

/**
 * Requires scopes and/or roles; with both, user tokens need one of the scopes and app tokens one of the
 * roles. With no argument, a valid token (useful on a method to relax its class's requirement).
 *
 * @example
 * @Get('quotes') @RequireAuth({ scopes: ['Quotes.Read'], roles: ['Quotes.Read.All'] }) quotes() {}
 */
export function RequireAuth(requirement: Requirement = {}): AuthDecorator {
  const { scopes = [], roles = [], match } = requirement
  return addRouteAuth('RequireAuth', match === undefined ? { scopes, roles } : { scopes, roles, match })
}

/**
 * Requires an RBAC permission, checked with the module's `policy`, on a resource computed from the request
 * (the platform's request object: Express `req` or Fastify `request`). A denial is `forbidden` (403).
 *
 * @example
 * @Delete(':symbol')
 * @Permission('stocks/delete', (req: { params: { symbol: string } }) => `/stocks/${req.params.symbol}`)
 * remove() {}
 */
export function Permission<TRequest = { params: Record<string, string> }>(
  action: string,
  resource: (request: TRequest) => string,
): AuthDecorator {
  return addRouteAuth('Permission', {
    permission: { action, resource: resource as (request: never) => string },
  })
}

/**
 * Sets report-only mode for a controller or handler, whatever the module's: refusals are reported as
 * `token.would_reject` / `access.would_deny` events and the handler runs (`@Auth()` is undefined when the
 * token was refused). `@ReportOnly(false)` enforces a handler of a report-only controller or module. A
 * method's setting wins over its class's.
 *
 * @example
 * @Post() @Roles('Stocks.Write') @ReportOnly() add() {}
 */
export function ReportOnly(enabled = true): AuthDecorator {
  return SetMetadata(REPORT_ONLY, enabled) as AuthDecorator
}

const authParam = createParamDecorator(
  (field: keyof Principal | undefined, ctx: ExecutionContext): unknown => {
    const principal = (ctx.switchToHttp().getRequest<{ auth?: Principal }>() ?? {}).auth
    return field === undefined ? principal : principal?.[field]
  },
)

/**
 * Injects the validated caller ({@link Principal}) into a handler parameter, or one of its fields.
 * `undefined` on a `@Public()` route.
 *
 * @example
 * @Get() @Roles('Stocks.Read') list(@Auth() auth: Principal, @Auth('clientId') caller: string) {}
 */
export function Auth(field?: keyof Principal): ParameterDecorator {
  return field === undefined ? authParam() : authParam(field)
}
