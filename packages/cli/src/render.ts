import type { Finding, TokenReport } from './describe-token.js'
import { localTime, relativeTime } from './format-time.js'
import type { ValidationReport } from './validate-token.js'

/** ANSI styling, or none (not a TTY, or NO_COLOR). */
export interface Style {
  red(text: string): string
  green(text: string): string
  yellow(text: string): string
  dim(text: string): string
  bold(text: string): string
}

const ansi = (open: number, close: number) => (text: string) => `\x1b[${open}m${text}\x1b[${close}m`

/**
 * The styling for an output stream: colours only on a TTY and when `NO_COLOR` is unset or empty.
 *
 * @example
 * const s = styleFor(process.stdout.isTTY === true, process.env)
 */
export function styleFor(isTTY: boolean, env: Record<string, string | undefined>): Style {
  const plain = (text: string) => text
  if (!isTTY || (env.NO_COLOR !== undefined && env.NO_COLOR !== '')) {
    return { red: plain, green: plain, yellow: plain, dim: plain, bold: plain }
  }
  return { red: ansi(31, 39), green: ansi(32, 39), yellow: ansi(33, 39), dim: ansi(2, 22), bold: ansi(1, 22) }
}

const CALLER = {
  app: 'application (app-only)',
  managed_identity: 'managed identity',
  user: 'user (delegated)',
}

function row(label: string, value: string): string {
  return `  ${label.padEnd(11)} ${value}`
}

function when(date: Date | undefined, now: number): string {
  return date === undefined ? '(none)' : `${localTime(date)} (${relativeTime(date, now)})`
}

function finding(f: Finding, s: Style): string {
  const mark =
    f.severity === 'error'
      ? s.red('✗ error  ')
      : f.severity === 'warning'
        ? s.yellow('! warning')
        : s.dim('i note   ')
  const more = f.code === undefined ? '' : s.dim(`  [--explain ${f.code}]`)
  return `  ${mark} ${f.message}${more}`
}

/**
 * The decoded token as text: what it is, who it speaks for, when it is valid, and the findings.
 *
 * @example
 * process.stdout.write(renderTokenReport(describeToken(token), styleFor(false, {}), Date.now()))
 */
export function renderTokenReport(r: TokenReport, s: Style, now: number): string {
  const c = r.caller
  const lines = [
    s.bold('Token (decoded, NOT verified)'),
    row('version', r.version === undefined ? '(unknown: no ver, no iss)' : `v${r.version}.0`),
    row('tenant', r.tenantId ?? '(no tid)'),
    row('issuer', r.issuer ?? '(no iss)'),
    row(
      'audience',
      r.audience === undefined
        ? '(no aud)'
        : typeof r.audience === 'string'
          ? r.audience
          : JSON.stringify(r.audience),
    ),
    row(
      'caller',
      `${CALLER[c.kind]}${c.managedIdentityKind === undefined ? '' : `, ${c.managedIdentityKind}`}`,
    ),
  ]
  if (c.clientId !== undefined)
    lines.push(row('', `client id  ${c.clientId} (${r.version === 2 ? 'azp' : 'appid'})`))
  if (c.objectId !== undefined) lines.push(row('', `object id  ${c.objectId} (oid)`))
  if (c.managedIdentityResourceId !== undefined)
    lines.push(row('', `resource   ${c.managedIdentityResourceId} (xms_mirid)`))
  if (c.username !== undefined) lines.push(row('', `username   ${c.username}`))
  if (c.name !== undefined) lines.push(row('', `name       ${c.name}`))
  lines.push(
    row('roles', r.roles.length === 0 ? '(none)' : r.roles.join(', ')),
    row('scopes', r.scopes.length === 0 ? '(none)' : r.scopes.join(' ')),
    row('issued', when(r.issuedAt, now)),
    row('valid from', when(r.notBefore, now)),
    row('expires', when(r.expiresAt, now)),
    row(
      'key',
      `kid ${r.header.kid ?? r.header.x5t ?? '(none)'}, alg ${r.header.alg ?? '(none)'}${r.header.nonce ? ', nonce in header' : ''}`,
    ),
  )
  if (r.findings.length > 0) lines.push('', s.bold('Findings'), ...r.findings.map((f) => finding(f, s)))
  return `${lines.join('\n')}\n`
}

/**
 * The validation explained: each check in the validator's order, then the first failure's detail and fix.
 *
 * @example
 * process.stdout.write(renderValidation(await validateToken(token, options), 'tenant …', styleFor(false, {})))
 */
export function renderValidation(r: ValidationReport, against: string, s: Style): string {
  const lines = [s.bold(`Validation (${against})`)]
  for (const c of r.checks) {
    if (c.status === 'pass') lines.push(`  ${s.green('✓')} ${c.title}`)
    else if (c.status === 'fail') lines.push(`  ${s.red('✗')} ${s.red(c.title)}`)
    else
      lines.push(
        `  ${s.dim(`· ${c.title} (${c.status === 'skipped' ? 'no --roles / --scopes' : 'not reached'})`)}`,
      )
  }
  const f = r.failure
  if (f !== undefined) {
    lines.push('', `  ${s.red(`${f.code}`)} (HTTP ${f.status}): ${f.detail}`)
    if (f.fix !== undefined) lines.push('', '  Fix:', ...f.fix.split('\n').map((l) => `    ${l}`))
    lines.push('', s.dim(`  More: entraguard inspect --explain ${f.code}  (${f.docs})`))
  } else if (r.decision !== undefined) {
    lines.push('', `  ${s.green('valid')}: ${r.decision.reason}`)
  }
  return `${lines.join('\n')}\n`
}
