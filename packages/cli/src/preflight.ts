import { type Cloud, createValidator, type Validator } from '@entraguard/core'
import type { Style } from './render.js'
import { validatorOptions } from './validator-options.js'

/** What `validator.preflight()` resolves to. */
export type PreflightResult = Awaited<ReturnType<Validator['preflight']>>

/** The validator options `entraguard inspect --preflight` checks. */
export interface PreflightOptions {
  tenant: string
  audience: string | readonly string[]
  authority?: string
  cloud?: Cloud
  allowedTenants?: readonly string[] | 'any'
  tokenVersions?: readonly (1 | 2)[]
  fetch?: typeof fetch
}

/**
 * Runs core's preflight for these validator options with a fresh validator: the audience forms against the
 * token versions, cloud and authority, the tenant, the metadata and keys. Options that core refuses throw its
 * ConfigurationError.
 *
 * @example
 * const report = await preflight({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api', tokenVersions: [2] })
 * if (!report.ok) console.log(report.problems)
 */
export async function preflight(options: PreflightOptions): Promise<PreflightResult> {
  const validator = createValidator(validatorOptions(options))
  try {
    return await validator.preflight()
  } finally {
    validator.close()
  }
}

/**
 * The exit code of a preflight: 0 ok (warnings allowed), 1 a configuration problem, 2 when the only errors are
 * that the issuer could not be reached (a network problem: the configuration could not be checked).
 *
 * @example
 * process.exitCode = preflightExitCode(await preflight(options))
 */
export function preflightExitCode(report: PreflightResult): 0 | 1 | 2 {
  const errors = report.problems.filter((p) => p.severity === 'error')
  if (errors.length === 0) return 0
  return errors.every((p) => p.code === 'metadata_unreachable') ? 2 : 1
}

/**
 * The preflight report as text: each problem with its fix, then what passed.
 *
 * @example
 * process.stdout.write(renderPreflight(report, 'tenant …, audience …', styleFor(false, {})))
 */
export function renderPreflight(report: PreflightResult, against: string, s: Style): string {
  const lines = [s.bold(`Preflight (${against})`)]
  for (const p of report.problems) {
    const mark = p.severity === 'error' ? s.red('✗ error  ') : s.yellow('! warning')
    lines.push(`  ${mark} ${p.message} ${s.dim(`[${p.code}]`)}`, `    Fix: ${p.fix}`)
  }
  for (const line of report.passed) lines.push(`  ${s.green('✓')} ${line}`)
  return `${lines.join('\n')}\n`
}
