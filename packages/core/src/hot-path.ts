import type { AccessContext } from './audit.js'
import type { AuthError } from './errors.js'
import type { Principal } from './principal.js'

/**
 * `validate()` without its promise: the principal or the refusal, synchronously, unless the metadata or an
 * unknown key must be fetched first (then a promise that rejects with the refusal). Validators made by
 * `createValidator` carry it under {@link VALIDATE_NOW}; adapters reach it through `authenticateNow()`.
 */
export type ValidateNow = (
  input: unknown,
  reportOnly: boolean | undefined,
  context: AccessContext | undefined,
) => Principal | AuthError | Promise<Principal>

/** The hot-path entry of a validator made by `createValidator` (absent from validators made elsewhere). */
export const VALIDATE_NOW: unique symbol = Symbol.for('entraguard.validateNow')

/** True when the validator has an `onEvent` listener: without one, decisions build no event objects. */
export const LISTENED: unique symbol = Symbol.for('entraguard.listened')

/** What `createValidator` adds to a {@link Validator} for entraguard's own adapters. */
export interface HotPath {
  readonly [VALIDATE_NOW]: ValidateNow
  readonly [LISTENED]: boolean
}

/**
 * A promise rejected with `err` one microtask from now. The caller attaches its handler first, so Node's
 * unhandled-rejection bookkeeping, which a promise rejected at birth goes through (≈1.3 µs on Node 20, most
 * of the cost of refusing garbage), never runs.
 *
 * @example
 * return rejectSoon(new AuthError('missing_token', { description: 'No bearer token was sent' }))
 */
export function rejectSoon<T>(err: unknown): Promise<T> {
  return new Promise<T>((_resolve, reject) => queueMicrotask(() => reject(err)))
}

/** The {@link HotPath} of a validator, when it was made by this copy's `createValidator` or a compatible one. */
export function hotPathOf(validator: object): HotPath | undefined {
  return typeof (validator as Partial<HotPath>)[VALIDATE_NOW] === 'function'
    ? (validator as HotPath)
    : undefined
}
