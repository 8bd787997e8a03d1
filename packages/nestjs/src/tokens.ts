/**
 * Injection token of the module's {@link Validator}: inject it to validate tokens elsewhere (a WebSocket
 * gateway, a queue consumer) with the same caches.
 *
 * @example
 * constructor(@Inject(ENTRA_VALIDATOR) private readonly validator: Validator) {}
 */
export const ENTRA_VALIDATOR = Symbol.for('entraguard.nestjs.validator')

/**
 * Injection token of the module's RBAC {@link Policy} (`null` when none was given).
 *
 * @example
 * constructor(@Inject(ENTRA_POLICY) private readonly policy: Policy | null) {}
 */
export const ENTRA_POLICY = Symbol.for('entraguard.nestjs.policy')

/**
 * Injection token of the options given to `EntraAuthModule.forRoot` (or returned by `forRootAsync`'s factory).
 *
 * @example
 * constructor(@Inject(ENTRA_AUTH_OPTIONS) private readonly options: EntraAuthModuleOptions) {}
 */
export const ENTRA_AUTH_OPTIONS = Symbol.for('entraguard.nestjs.options')
