/** The kinds of event sent to `onEvent`. */
export type AuthEventType =
  | 'token.validated'
  | 'token.rejected'
  | 'access.allowed'
  | 'access.denied'
  /** Report-only mode: the token or request would have been refused (a missing token too); it went through. */
  | 'token.would_reject'
  /** Report-only mode: the requirement or policy would have denied; the handler ran. */
  | 'access.would_deny'
  | 'keys.refreshed'
  | 'keys.refresh_failed'
  | 'policy.reloaded'
  | 'policy.reload_failed'

/**
 * A structured audit or telemetry event. Safe to log: it never holds the token.
 *
 * @example
 * createValidator({ ..., onEvent: (e) => logger.info(e, e.type) })
 */
export interface AuthEvent {
  type: AuthEventType
  at: Date
  tenantId?: string | undefined
  objectId?: string | undefined
  clientId?: string | undefined
  managedIdentityResourceId?: string | undefined
  /** The {@link AuthErrorCode} of a rejection or denial. */
  code?: string | undefined
  /** A sentence a human can act on. */
  reason?: string | undefined
  method?: string | undefined
  /** The route pattern (`/stocks/:symbol`), never the concrete path. */
  route?: string | undefined
  action?: string | undefined
  resource?: string | undefined
  /** For `keys.*`: the key set address. */
  url?: string | undefined
  /** For `keys.refreshed`: how many usable keys the set holds. */
  keyCount?: number | undefined
  /** For `token.validated`: whether the validated-token cache answered. */
  cached?: boolean | undefined
}

/** A receiver of {@link AuthEvent}s. */
export type AuthEventHandler = (event: AuthEvent) => void

/** Calls the handler and makes sure a throwing handler never changes an authentication result. */
export function safeEmit(handler: AuthEventHandler | undefined, event: AuthEvent): void {
  if (handler === undefined) return
  try {
    handler(event)
  } catch (err) {
    // An audit sink that throws must not turn a valid request into a 500 or a bad one into a pass;
    // it is reported as a process warning so it is not lost either.
    process.emitWarning(err instanceof Error ? err : String(err), { code: 'ENTRAGUARD_EVENT_HANDLER' })
  }
}
