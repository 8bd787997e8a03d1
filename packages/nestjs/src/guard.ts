import {
  type Access,
  authenticate,
  authorize,
  type Policy,
  type Principal,
  type RequestShape,
  type Validator,
} from '@entraguard/core'
import { type CanActivate, type ExecutionContext, Inject, Injectable, Optional } from '@nestjs/common'
import { Reflector } from '@nestjs/core'
import { REPORT_ONLY, ROUTE_AUTH, type RouteAuth } from './route-auth.js'
import { ENTRA_AUTH_OPTIONS, ENTRA_POLICY, ENTRA_VALIDATOR } from './tokens.js'

/** The platform's request as the guard reads it: an Express `req` or a Fastify `request`. */
interface PlatformRequest {
  method: string
  url: string
  body?: unknown
  rawHeaders?: string[]
  raw?: { rawHeaders?: string[] }
  headers: Record<string, string | string[] | undefined>
  baseUrl?: string
  route?: { path?: unknown }
  routeOptions?: { url?: string }
  auth?: Principal
}

/**
 * The global guard `EntraAuthModule` registers (as `APP_GUARD`): every route needs a valid token unless it
 * is `@Public()`, plus what its decorators require. Sets `request.auth` and throws the {@link AuthError} of
 * a refusal, which the module's exception filter renders. Contexts other than HTTP fail closed.
 *
 * @example
 * EntraAuthModule.forRoot({ tenant, audience, globalGuard: false })
 * // then, per controller:
 * @UseGuards(EntraAuthGuard) @Controller('stocks') class StocksController {}
 */
@Injectable()
export class EntraAuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(ENTRA_VALIDATOR) private readonly validator: Validator,
    @Inject(ENTRA_POLICY) private readonly policy: Policy | null,
    @Optional()
    @Inject(ENTRA_AUTH_OPTIONS)
    private readonly options: { reportOnly?: boolean | undefined } | null = null,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const auth = this.reflector.getAllAndOverride<RouteAuth | undefined>(ROUTE_AUTH, [
      context.getHandler(),
      context.getClass(),
    ])
    if (auth?.isPublic === true) return true
    if (context.getType() !== 'http') return false
    const request = context.switchToHttp().getRequest<PlatformRequest>()
    const reportOnly =
      this.reflector.getAllAndOverride<boolean | undefined>(REPORT_ONLY, [
        context.getHandler(),
        context.getClass(),
      ]) ??
      this.options?.reportOnly ??
      this.validator.reportOnly === true
    const where = { method: request.method, route: routeOf(request) }
    const principal = await authenticate(this.validator, shapeOf(request), { reportOnly, context: where })
    // Report-only let a refused token through: the handler runs without a principal.
    if (principal === undefined) return true
    request.auth = principal
    authorize(principal, this.accessOf(auth, request), where, this.validator, { reportOnly })
    return true
  }

  private accessOf(auth: RouteAuth | undefined, request: PlatformRequest): Access {
    if (auth === undefined) return {}
    const requirement = { scopes: auth.scopes, roles: auth.roles, match: auth.match }
    const { permission } = auth
    if (permission === undefined) return { requirement }
    if (this.policy === null) {
      throw new Error(
        `entraguard: @Permission('${permission.action}') needs a policy: pass { policy } to EntraAuthModule.forRoot()`,
      )
    }
    const resource = (permission.resource as (r: PlatformRequest) => string)(request)
    return { requirement, permission: { policy: this.policy, action: permission.action, resource } }
  }
}

// Express's req is the Node request itself; Fastify's request wraps it as `raw`. Raw headers let core see
// repeated Authorization headers, which the parsed `headers` record would hide.
function shapeOf(request: PlatformRequest): RequestShape {
  const headers = request.rawHeaders ?? request.raw?.rawHeaders ?? request.headers
  return { headers, url: request.url, body: request.body }
}

/** The route pattern for audit events (`/stocks/:symbol`), never the concrete path. */
function routeOf(request: PlatformRequest): string | undefined {
  if (request.routeOptions?.url !== undefined) return request.routeOptions.url
  const path = request.route?.path
  return typeof path === 'string' ? `${request.baseUrl ?? ''}${path}` : undefined
}
