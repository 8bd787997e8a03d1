import { type AccessContext, enforce } from './audit.js'
import type { Policy } from './policy.js'
import type { Principal } from './principal.js'
import { check, type Requirement } from './requirements.js'

/** What a route needs beyond a valid token: scopes / app roles, and/or an RBAC permission on a resource. */
export interface Access {
  requirement?: Requirement | undefined
  permission?: { policy: Policy; action: string; resource: string } | undefined
}

/**
 * The one authorization step of every adapter: checks the requirement (if it names scopes or roles), then
 * the policy permission (if any), reports each decision as an `access.*` event and throws the denial's
 * {@link AuthError} (`insufficient_scope`, or `forbidden` for the policy). A route that needs only a valid
 * token takes no decision and emits nothing.
 *
 * @example
 * authorize(principal, { requirement: { roles: ['Stocks.Read'] } }, { method: 'GET', route: '/stocks' }, validator.emit)
 */
export function authorize(
  principal: Principal,
  access: Access,
  context: AccessContext,
  emit: Parameters<typeof enforce>[3],
): void {
  const { requirement, permission } = access
  if (
    requirement !== undefined &&
    ((requirement.scopes?.length ?? 0) > 0 || (requirement.roles?.length ?? 0) > 0)
  ) {
    const decision = check(principal, requirement)
    if (!decision.allowed || permission === undefined) {
      enforce(decision, principal, context, emit)
      return
    }
  }
  if (permission === undefined) return
  context.action = permission.action
  context.resource = permission.resource
  enforce(
    permission.policy.authorize(principal, permission.action, permission.resource),
    principal,
    context,
    emit,
  )
}
