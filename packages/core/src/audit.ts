import { AuthError } from './errors.js'
import type { AuthEvent } from './events.js'
import type { Principal } from './principal.js'
import type { Decision } from './requirements.js'

/** Where a decision was taken, for audit events. */
export interface AccessContext {
  method?: string | undefined
  /** The route pattern (`/stocks/:symbol`), never the concrete path. */
  route?: string | undefined
  action?: string | undefined
  resource?: string | undefined
}

/**
 * Reports a decision as an `access.allowed` / `access.denied` event and throws its error when it denies.
 * With `reportOnly`, a denial is reported as `access.would_deny` (with the code it would have had) and
 * nothing is thrown. Adapters call this after {@link check} or `Policy.authorize`, so the audit trail is the
 * same everywhere.
 *
 * @example
 * enforce(check(principal, { roles: ['Stocks.Read'] }), principal, { method: 'GET', route: '/stocks' }, validator.emit)
 */
export function enforce(
  decision: Decision,
  principal: Principal,
  context: AccessContext,
  emit: ((event: Omit<AuthEvent, 'at'>) => void) | undefined,
  reportOnly = false,
): void {
  const error = decision.allowed
    ? undefined
    : (decision.error ??
      new AuthError('forbidden', {
        description: 'You do not have permission to perform this action',
        detail: decision.reason,
      }))
  emit?.({
    type: error === undefined ? 'access.allowed' : reportOnly ? 'access.would_deny' : 'access.denied',
    tenantId: principal.tenantId,
    objectId: principal.objectId,
    clientId: principal.clientId,
    managedIdentityResourceId: principal.managedIdentityResourceId,
    code: error?.code,
    reason: decision.reason,
    ...context,
  })
  if (error !== undefined && !reportOnly) throw error
}
