import { AuthError } from './errors.js'
import type { Principal } from './principal.js'

/**
 * What a route needs beyond a valid token. `scopes` are delegated permissions (`scp`, user tokens), `roles`
 * app roles (`roles`). With both, a user token needs the scopes and an app token the roles
 * (Microsoft.Identity.Web's RequiredScopeOrAppPermission). `match` defaults to `'any'`.
 */
export interface Requirement {
  scopes?: readonly string[] | undefined
  roles?: readonly string[] | undefined
  match?: 'any' | 'all' | undefined
}

/** The assignment and role that allowed a policy decision. */
export interface DecisionMatch {
  assignment: Readonly<Record<string, unknown>>
  role: string
}

/** The outcome of {@link check} or `Policy.authorize`. */
export interface Decision {
  allowed: boolean
  /** One sentence a human can act on. */
  reason: string
  /** For policy decisions that allowed: which assignment and role. */
  matched?: DecisionMatch
  /** For denials: the error to answer with (`insufficient_scope` or `forbidden`). */
  error?: AuthError
}

function has(held: readonly string[], wanted: readonly string[], match: 'any' | 'all'): boolean {
  return match === 'all' ? wanted.every((w) => held.includes(w)) : wanted.some((w) => held.includes(w))
}

function list(values: readonly string[], match: 'any' | 'all'): string {
  return values.length === 1
    ? `'${values[0]}'`
    : `${match === 'all' ? 'all' : 'one'} of ${values.map((v) => `'${v}'`).join(', ')}`
}

function who(principal: Principal): string {
  if (principal.identityType === 'user') return `user ${principal.objectId ?? principal.subject ?? 'unknown'}`
  return principal.managedIdentityResourceId !== undefined
    ? `managed identity ${principal.clientId}`
    : `app ${principal.clientId}`
}

function deny(reason: string, required: readonly string[], description: string): Decision {
  return {
    allowed: false,
    reason,
    error: new AuthError('insufficient_scope', { description, detail: reason, scope: required.join(' ') }),
  }
}

/** Whether a requirement asks for anything beyond a valid token (a decision is taken only then). */
export function namesScopesOrRoles(requirement: Requirement): boolean {
  return (requirement.scopes?.length ?? 0) > 0 || (requirement.roles?.length ?? 0) > 0
}

/**
 * Whether `principal` meets `requirement`: exactly `check(principal, requirement).allowed`, without building the
 * decision's reason. For the path where nobody listens to decisions.
 */
export function satisfies(principal: Principal, requirement: Requirement): boolean {
  const match = requirement.match ?? 'any'
  const scopes = requirement.scopes ?? []
  const roles = requirement.roles ?? []
  if (scopes.length > 0 && roles.length > 0) {
    return principal.identityType === 'user'
      ? has(principal.scopes, scopes, match)
      : has(principal.roles, roles, match)
  }
  return (
    (scopes.length === 0 || has(principal.scopes, scopes, match)) &&
    (roles.length === 0 || has(principal.roles, roles, match))
  )
}

/**
 * Checks scopes and app roles. Pure and synchronous; a denial carries an `insufficient_scope` error whose
 * challenge names what was required.
 *
 * @example
 * check(principal, { scopes: ['Stocks.Read'], roles: ['Stocks.Read.All'] }).allowed
 */
export function check(principal: Principal, requirement: Requirement): Decision {
  const match = requirement.match ?? 'any'
  const scopes = requirement.scopes ?? []
  const roles = requirement.roles ?? []
  const subject = who(principal)
  if (scopes.length > 0 && roles.length > 0) {
    if (principal.identityType === 'user') {
      return has(principal.scopes, scopes, match)
        ? { allowed: true, reason: `${subject} has scope ${list(scopes, match)}` }
        : deny(
            `${subject} lacks scope ${list(scopes, match)} (has: ${principal.scopes.join(' ') || 'none'})`,
            scopes,
            'The token lacks the required scope',
          )
    }
    return has(principal.roles, roles, match)
      ? { allowed: true, reason: `${subject} has app role ${list(roles, match)}` }
      : deny(
          `${subject} lacks app role ${list(roles, match)} (has: ${principal.roles.join(', ') || 'none'}); assign it to the caller in Entra ID`,
          roles,
          'The token lacks the required role',
        )
  }
  if (scopes.length > 0 && !has(principal.scopes, scopes, match)) {
    const hint =
      principal.identityType === 'app'
        ? '; app-only tokens never carry scopes, so require an app role for them'
        : ''
    return deny(
      `${subject} lacks scope ${list(scopes, match)} (has: ${principal.scopes.join(' ') || 'none'})${hint}`,
      scopes,
      'The token lacks the required scope',
    )
  }
  if (roles.length > 0 && !has(principal.roles, roles, match)) {
    return deny(
      `${subject} lacks app role ${list(roles, match)} (has: ${principal.roles.join(', ') || 'none'}); assign it to the caller in Entra ID`,
      roles,
      'The token lacks the required role',
    )
  }
  const parts = [
    scopes.length > 0 ? `scope ${list(scopes, match)}` : '',
    roles.length > 0 ? `app role ${list(roles, match)}` : '',
  ].filter(Boolean)
  return {
    allowed: true,
    reason: parts.length === 0 ? `${subject} has a valid token` : `${subject} has ${parts.join(' and ')}`,
  }
}

export { who as describePrincipal }
