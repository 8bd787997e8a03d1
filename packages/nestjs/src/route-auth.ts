import { ConfigurationError, type Requirement } from '@entraguard/core'

/** What one controller or handler needs, as its entraguard decorators declare it. */
export interface RouteAuth {
  /** Set by `@Public()`: no token needed. */
  isPublic?: boolean
  scopes?: readonly string[]
  roles?: readonly string[]
  match?: Requirement['match']
  /** Set by `@Permission()`: an RBAC action checked with the module's policy. */
  permission?: { action: string; resource: (request: never) => string }
}

/** The one metadata key of every entraguard decorator, read with `Reflector.getAllAndOverride`. */
export const ROUTE_AUTH = 'entraguard:route-auth'

/**
 * The metadata key of `@ReportOnly()`: apart from {@link ROUTE_AUTH}, so that a class's `@ReportOnly()` covers
 * its methods' own requirements (a method's own `@ReportOnly(false)` overrides it).
 */
export const REPORT_ONLY = 'entraguard:report-only'

type Reflection = {
  getOwnMetadata(key: string, target: object): unknown
  defineMetadata(key: string, value: unknown, target: object): void
}
// The global Reflect API that reflect-metadata installs (Nest imports it before any decorator runs).
const reflection = Reflect as unknown as Reflection

/**
 * A class-or-method decorator that adds `part` to the target's own RouteAuth. Decorators on one target
 * combine (their scopes and roles add up); the guard takes a method's RouteAuth whole, in place of its class's.
 */
export function addRouteAuth(name: string, part: RouteAuth): ClassDecorator & MethodDecorator {
  return (target: object, _key?: string | symbol, descriptor?: PropertyDescriptor) => {
    const where = (descriptor?.value as object | undefined) ?? target
    const own = reflection.getOwnMetadata(ROUTE_AUTH, where) as RouteAuth | undefined
    reflection.defineMetadata(ROUTE_AUTH, own === undefined ? part : combine(own, part, name), where)
  }
}

function combine(a: RouteAuth, b: RouteAuth, name: string): RouteAuth {
  const merged: RouteAuth = { ...a, ...b }
  if (a.isPublic !== b.isPublic) {
    throw new ConfigurationError(
      `entraguard: @${name}() contradicts another decorator on the same handler or class: @Public() cannot be combined with @Roles, @Scopes, @RequireAuth or @Permission`,
    )
  }
  if (a.permission !== undefined && b.permission !== undefined) {
    throw new ConfigurationError(
      'entraguard: two @Permission() decorators on the same handler or class; a route checks one permission',
    )
  }
  if (a.scopes !== undefined && b.scopes !== undefined) merged.scopes = [...a.scopes, ...b.scopes]
  if (a.roles !== undefined && b.roles !== undefined) merged.roles = [...a.roles, ...b.roles]
  return merged
}
