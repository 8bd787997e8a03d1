import { parseArgs } from 'node:util'
import { AUTH_ERROR_CODES, type Cloud, ConfigurationError, type Requirement } from '@entraguard/core'
import { describeToken, NotAJwtError, type TokenReport } from './describe-token.js'
import { type PreflightOptions, preflight, preflightExitCode, renderPreflight } from './preflight.js'
import { renderTokenReport, renderValidation, styleFor } from './render.js'
import { troubleshootingEntry } from './troubleshooting.js'
import { type ValidateOptions, type ValidationReport, validateToken } from './validate-token.js'

/** Where {@link runInspect} reads and writes; `process` fits. */
export interface InspectIO {
  stdin: AsyncIterable<Buffer | string> & { isTTY?: boolean }
  stdout: { write(text: string): unknown; isTTY?: boolean }
  stderr: { write(text: string): unknown }
  env: Record<string, string | undefined>
}

/**
 * Exit codes: the token is valid, invalid, or the command could not tell (usage, network).
 *
 * @example
 * if ((await runInspect(argv, process)) === EXIT.invalid) console.error('refused')
 */
export const EXIT = { valid: 0, invalid: 1, usage: 2 } as const

/**
 * The usage text of `entraguard inspect`.
 *
 * @example
 * process.stderr.write(`${USAGE}\n`)
 */
export const USAGE = `Usage:
  entraguard inspect <token | ->                 decode without trusting (- or a pipe: read stdin)
  entraguard inspect <token | -> --tenant <tenant> --audience <aud> [--audience <aud>]
      [--authority <url>] [--cloud public|usgov|china] [--allowed-tenants <tid,…>]
      [--roles <R,…>] [--scopes <S,…>]           validate with entraguard's validator, explain each check
  entraguard inspect --explain <code>            the troubleshooting entry of an error code
  entraguard inspect --preflight --tenant <tenant> --audience <aud> [--audience <aud>]
      [--authority <url>] [--cloud public|usgov|china] [--allowed-tenants <tid,…>]
      [--token-versions 1,2]                     check the validator options and the issuer before start-up
Options: --json (for scripts), --help. Exit: 0 valid, 1 invalid, 2 usage or network error.
Pipe the token (… | entraguard inspect -) so it never reaches your shell history.`

class UsageError extends Error {}

const list = (values: string[] | undefined) =>
  (values ?? []).flatMap((v) => v.split(/[\s,]+/)).filter((v) => v !== '')

function parse(argv: readonly string[]) {
  const { values, positionals } = parseArgs({
    args: [...argv],
    allowPositionals: true,
    strict: true,
    options: {
      json: { type: 'boolean' },
      explain: { type: 'string' },
      tenant: { type: 'string' },
      audience: { type: 'string', multiple: true },
      authority: { type: 'string' },
      cloud: { type: 'string' },
      'allowed-tenants': { type: 'string', multiple: true },
      roles: { type: 'string', multiple: true },
      scopes: { type: 'string', multiple: true },
      preflight: { type: 'boolean' },
      'token-versions': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  return { values, positionals }
}

async function readAll(stdin: InspectIO['stdin']): Promise<string> {
  let text = ''
  for await (const chunk of stdin) {
    text += typeof chunk === 'string' ? chunk : chunk.toString('utf8')
    if (text.length > 1024 * 1024) throw new UsageError('stdin holds more than 1 MiB: that is not a token')
  }
  return text.trim()
}

function validateOptions(values: ReturnType<typeof parse>['values']): ValidateOptions | undefined {
  const audience = list(values.audience)
  const wanted = [values.authority, values.cloud, values['allowed-tenants'], values.roles, values.scopes]
  if (values.tenant === undefined && audience.length === 0) {
    if (wanted.some((v) => v !== undefined)) {
      throw new UsageError(
        '--authority, --cloud, --allowed-tenants, --roles and --scopes need --tenant and --audience',
      )
    }
    return undefined
  }
  if (values.tenant === undefined || audience.length === 0) {
    throw new UsageError('Validation needs both --tenant and --audience (the API’s validator options)')
  }
  const cloud = values.cloud
  if (cloud !== undefined && cloud !== 'public' && cloud !== 'usgov' && cloud !== 'china') {
    throw new UsageError(`--cloud is public, usgov or china, not '${cloud}'`)
  }
  const allowed = list(values['allowed-tenants'])
  const requirement: Requirement = { roles: list(values.roles), scopes: list(values.scopes) }
  return {
    tenant: values.tenant,
    audience,
    requirement,
    ...(values.authority === undefined ? {} : { authority: values.authority }),
    ...(cloud === undefined ? {} : { cloud: cloud as Cloud }),
    ...(allowed.length === 0 ? {} : { allowedTenants: allowed.includes('any') ? 'any' : allowed }),
  }
}

function preflightOptions(args: ReturnType<typeof parse>): PreflightOptions {
  const { values, positionals } = args
  if (positionals.length > 0) throw new UsageError('--preflight checks options, not a token: give no token')
  if (values.roles !== undefined || values.scopes !== undefined || values.explain !== undefined) {
    throw new UsageError('--preflight takes no --roles, --scopes or --explain')
  }
  const options = validateOptions(values)
  if (options === undefined) throw new UsageError('--preflight needs --tenant and --audience')
  const { requirement: _requirement, ...rest } = options
  const versions = list(values['token-versions'])
  if (versions.some((v) => v !== '1' && v !== '2')) {
    throw new UsageError(`--token-versions is 1, 2 or 1,2, not '${versions.join(',')}'`)
  }
  return versions.length === 0
    ? rest
    : { ...rest, tokenVersions: [...new Set(versions.map((v) => (v === '1' ? 1 : 2) as 1 | 2))] }
}

/** `inspect --preflight`: core's preflight of the validator options; exit 0 ok, 1 problems, 2 usage/network. */
async function runPreflight(options: PreflightOptions, io: InspectIO, json: boolean): Promise<number> {
  let report: Awaited<ReturnType<typeof preflight>>
  try {
    report = await preflight(options)
  } catch (err) {
    if (!(err instanceof ConfigurationError)) throw err
    io.stderr.write(`${err.message}\n`)
    return EXIT.usage
  }
  const exitCode = preflightExitCode(report)
  if (json) {
    io.stdout.write(`${JSON.stringify({ exitCode, ...report }, null, 2)}\n`)
    return exitCode
  }
  const style = styleFor(io.stdout.isTTY === true, io.env)
  const against = `tenant ${options.tenant}, audience ${[options.audience].flat().join(', ')}${options.authority === undefined ? '' : `, authority ${options.authority}`}`
  const verdict =
    exitCode === EXIT.valid
      ? style.green(report.problems.length === 0 ? 'OK' : 'OK (with warnings)')
      : exitCode === EXIT.invalid
        ? style.red('PROBLEMS')
        : style.yellow('UNKNOWN (issuer unreachable)')
  io.stdout.write(`${renderPreflight(report, against, style)}\nResult: ${verdict}, exit ${exitCode}\n`)
  return exitCode
}

function explain(code: string, io: InspectIO): number {
  const entry = troubleshootingEntry(code)
  if (entry === undefined) {
    io.stderr.write(`No troubleshooting entry for '${code}'. Codes: ${AUTH_ERROR_CODES.join(', ')}\n`)
    return EXIT.usage
  }
  io.stdout.write(`${entry}\n`)
  return EXIT.valid
}

function toJson(token: TokenReport, validation: ValidationReport | undefined, exitCode: number): string {
  const { claims, ...rest } = token
  const out = {
    valid: exitCode === EXIT.valid,
    exitCode,
    token: { ...rest, claims },
    ...(validation === undefined
      ? {}
      : {
          validation: {
            valid: validation.valid,
            checks: validation.checks,
            failure: validation.failure,
            reason: validation.decision?.reason,
          },
        }),
  }
  return `${JSON.stringify(out, null, 2)}\n`
}

/**
 * Runs `entraguard inspect` with the arguments after the command name and resolves to the exit code. The token
 * is decoded locally; it goes to the network never (decode-only) or only as far as core's validator reads it
 * (with --tenant/--audience, which fetches the authority's metadata and keys, never sending the token).
 *
 * @example
 * process.exitCode = await runInspect(process.argv.slice(3), process)
 */
export async function runInspect(argv: readonly string[], io: InspectIO): Promise<number> {
  let args: ReturnType<typeof parse>
  let options: ValidateOptions | undefined
  let preflighted: PreflightOptions | undefined
  try {
    args = parse(argv)
    if (args.values.preflight === true && args.values.help !== true) preflighted = preflightOptions(args)
    else if (args.values['token-versions'] !== undefined)
      throw new UsageError('--token-versions goes with --preflight')
    options = validateOptions(args.values)
    if (args.positionals.length > 1) throw new UsageError('Give one token (or -)')
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`)
    return EXIT.usage
  }
  const { values, positionals } = args
  if (values.help === true) {
    io.stdout.write(`${USAGE}\n`)
    return EXIT.valid
  }
  if (values.explain !== undefined) return explain(values.explain, io)
  if (preflighted !== undefined) return runPreflight(preflighted, io, values.json === true)

  let token = positionals[0]
  try {
    if (token === '-' || (token === undefined && io.stdin.isTTY !== true)) token = await readAll(io.stdin)
    if (token === undefined || token === '') throw new UsageError('No token given')
  } catch (err) {
    io.stderr.write(`${(err as Error).message}\n\n${USAGE}\n`)
    return EXIT.usage
  }

  const now = Date.now()
  let decoded: TokenReport
  try {
    decoded = describeToken(token, { now })
  } catch (err) {
    if (!(err instanceof NotAJwtError)) throw err
    if (values.json === true) {
      io.stdout.write(
        `${JSON.stringify({ valid: false, exitCode: EXIT.invalid, error: err.message }, null, 2)}\n`,
      )
    } else io.stderr.write(`Not a JWT: ${err.message}\n`)
    return EXIT.invalid
  }

  let validation: ValidationReport | undefined
  if (options !== undefined) {
    try {
      validation = await validateToken(token, options)
    } catch (err) {
      if (!(err instanceof ConfigurationError)) throw err
      io.stderr.write(`${err.message}\n`)
      return EXIT.usage
    }
  }
  const exitCode =
    validation === undefined
      ? decoded.valid
        ? EXIT.valid
        : EXIT.invalid
      : validation.valid
        ? EXIT.valid
        : validation.failure?.code === 'metadata_unavailable'
          ? EXIT.usage
          : EXIT.invalid

  if (values.json === true) {
    io.stdout.write(toJson(decoded, validation, exitCode))
    return exitCode
  }
  const style = styleFor(io.stdout.isTTY === true, io.env)
  let text = renderTokenReport(decoded, style, now)
  if (validation !== undefined && options !== undefined) {
    const against = `tenant ${options.tenant}, audience ${[options.audience].flat().join(', ')}${options.authority === undefined ? '' : `, authority ${options.authority}`}`
    text += `\n${renderValidation(validation, against, style)}`
  }
  const verdict =
    exitCode === EXIT.valid
      ? style.green('VALID')
      : exitCode === EXIT.invalid
        ? style.red('INVALID')
        : style.yellow('UNKNOWN (metadata unavailable)')
  const scope =
    validation === undefined ? ' (decoded only: pass --tenant and --audience to verify the signature)' : ''
  io.stdout.write(`${text}\nResult: ${verdict}${scope}, exit ${exitCode}\n`)
  return exitCode
}
