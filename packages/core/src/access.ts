import { type AccessContext, enforce } from './audit.js'
import { pointTo, resourceMetadataOf } from './authenticate.js'
import type { AuthEvent } from './events.js'
import { type HotPath, LISTENED } from './hot-path.js'
import type { Policy } from './policy.js'
import type { Principal } from './principal.js'
import { check, namesScopesOrRoles, type Requirement, satisfies } from './requirements.js'
import { countRequirementDecision, tracedAuthorize } from './telemetry.js'

/** What a route needs beyond a valid token: scopes / app roles, and/or an RBAC permission on a resource. */
export interface Access {
  requirement?: Requirement | undefined
  permission?: { policy: Policy; action: string; resource: string } | undefined
}

/** Options of {@link authorize}. */
export interface AuthorizeOptions {
  /** Report a denial as `access.would_deny` and return instead of throwing (report-only roll-out). */
  reportOnly?: boolean | undefined
}

/**
 * Where {@link authorize} reports decisions: an event sink such as `validator.emit`, or the validator itself
 * (then a refusal's challenge also carries the validator's RFC 9728 `resource_metadata`).
 */
export type DecisionSink =
  | ((event: Omit<AuthEvent, 'at'>) => void)
  | { emit(event: Omit<AuthEvent, 'at'>): void; readonly resourceMetadata?: unknown }

/**
 * The one authorization step of every adapter: checks the requirement (if it names scopes or roles), then
 * the policy permission (if any), reports each decision as an `access.*` event and throws the denial's
 * {@link AuthError} (`insufficient_scope`, or `forbidden` for the policy). A route that needs only a valid
 * token takes no decision and emits nothing. With `reportOnly`, the first denial is reported as
 * `access.would_deny` and nothing is thrown.
 *
 * @example
 * authorize(principal, { requirement: { roles: ['Stocks.Read'] } }, { method: 'GET', route: '/stocks' }, validator)
 */
export function authorize(
  principal: Principal,
  access: Access,
  context: AccessContext,
  sink: DecisionSink,
  options: AuthorizeOptions = {},
): void {
  const reportOnly = options.reportOnly === true
  if (allowsQuietly(principal, access, sink)) return
  if (typeof sink === 'function') {
    decide(principal, access, context, sink, reportOnly)
    return
  }
  const metadata = resourceMetadataOf(sink)
  try {
    decide(principal, access, context, (e) => sink.emit(e), reportOnly)
  } catch (err) {
    throw metadata === undefined ? err : pointTo(err, metadata)
  }
}

/**
 * {@link authorize}'s quiet path: true when nobody listens (a validator without `onEvent`), the route needs
 * scopes or roles only and the principal has them. Then an allowed request needs no decision object, no
 * reason text, no event and no context (issue 9); it is counted and that is all. False: call `authorize()`.
 *
 * @example
 * if (!allowsQuietly(principal, access, validator)) authorize(principal, access, contextOf(req), validator)
 */
export function allowsQuietly(principal: Principal, access: Access, sink: DecisionSink): boolean {
  if (
    access.permission !== undefined ||
    typeof sink !== 'object' ||
    (sink as Partial<HotPath>)[LISTENED] !== false ||
    (access.requirement !== undefined && !satisfies(principal, access.requirement))
  )
    return false
  countRequirementAllowed(access.requirement)
  return true
}

function decide(
  principal: Principal,
  access: Access,
  context: AccessContext,
  emit: (event: Omit<AuthEvent, 'at'>) => void,
  reportOnly: boolean,
): void {
  const { requirement, permission } = access
  if (requirement !== undefined && namesScopesOrRoles(requirement)) {
    const decision = check(principal, requirement)
    countRequirementDecision(decision)
    if (!decision.allowed || permission === undefined) {
      // A denial ends the decision, in report-only mode too: one would_deny, with the code it would have had.
      enforce(decision, principal, context, emit, reportOnly)
      return
    }
  }
  if (permission === undefined) return
  context.action = permission.action
  context.resource = permission.resource
  enforce(
    tracedAuthorize(permission.policy, principal, permission.action, permission.resource),
    principal,
    context,
    emit,
    reportOnly,
  )
}

const ALLOWED = Object.freeze({ allowed: true, reason: '' })

/** The `entraguard.decisions` count of an allowed requirement that was checked (one that names scopes or roles). */
function countRequirementAllowed(requirement: Requirement | undefined): void {
  if (requirement !== undefined && namesScopesOrRoles(requirement)) countRequirementDecision(ALLOWED)
}
