import type { ValidatorOptions } from './options.js'
import { createValidator, type Validator } from './validator.js'

/** How adapters take their validator: validator options, or a validator the app created and shares. */
export type ValidatorSource = ValidatorOptions | { validator: Validator }

/**
 * Returns the validator an adapter's options name, creating one from validator options; `owned` tells
 * whether the adapter created it (and so should `close()` it when the app stops).
 *
 * @example
 * const { validator, owned } = useValidator(options)
 */
export function useValidator(source: ValidatorSource): { validator: Validator; owned: boolean } {
  if ('validator' in source && source.validator !== undefined)
    return { validator: source.validator, owned: false }
  return { validator: createValidator(source as ValidatorOptions), owned: true }
}
