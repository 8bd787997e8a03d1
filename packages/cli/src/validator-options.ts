import type { Cloud, ValidatorOptions } from '@entraguard/core'

/** The validator settings that the CLI's flags give (`--tenant`, `--audience`, `--authority`, …). */
export interface CliValidatorSettings {
  tenant: string
  audience: string | readonly string[]
  authority?: string | undefined
  cloud?: Cloud | undefined
  allowedTenants?: readonly string[] | 'any' | undefined
  tokenVersions?: readonly (1 | 2)[] | undefined
  now?: (() => number) | undefined
  fetch?: typeof fetch | undefined
}

/**
 * Core's validator options for the CLI's settings, with the validated-token cache off (a run sees one token).
 *
 * @example
 * createValidator(validatorOptions({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' }))
 */
export function validatorOptions(s: CliValidatorSettings): ValidatorOptions {
  return {
    tenant: s.tenant,
    audience: typeof s.audience === 'string' ? s.audience : [...s.audience],
    cache: false,
    ...(s.authority === undefined ? {} : { authority: s.authority }),
    ...(s.cloud === undefined ? {} : { cloud: s.cloud }),
    ...(s.allowedTenants === undefined
      ? {}
      : { allowedTenants: s.allowedTenants === 'any' ? 'any' : [...s.allowedTenants] }),
    ...(s.tokenVersions === undefined ? {} : { tokenVersions: [...s.tokenVersions] }),
    ...(s.now === undefined ? {} : { now: s.now }),
    ...(s.fetch === undefined ? {} : { fetch: s.fetch }),
  }
}
