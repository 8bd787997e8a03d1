import { isAuthError } from './errors.js'
import { type TenantMode, tenantOfIssuer } from './issuer.js'
import { CLOUD_AUTHORITIES, type Cloud, GUID, type ResolvedValidatorOptions } from './options.js'
import type { TrustSource } from './trust-source.js'

/** What a {@link PreflightProblem} is about. */
export type PreflightCode =
  | 'metadata_unreachable'
  | 'tenant_not_found'
  | 'cloud_mismatch'
  | 'audience_never_matches'
  | 'audience_misses_version'
  | 'audience_v1_client_id'
  | 'resource_not_in_audience'
  | 'preflight_failed'

/** One thing wrong with a validator's configuration or its reach, and how to fix it. */
export interface PreflightProblem {
  readonly code: PreflightCode
  /** `error`: tokens will be refused (or the issuer is out of reach); `warning`: some will, or it looks wrong. */
  readonly severity: 'error' | 'warning'
  readonly message: string
  readonly fix: string
}

/**
 * The outcome of `validator.preflight()`: `ok` when no problem is an error (warnings allowed).
 *
 * @example
 * const report = await validator.preflight()
 * if (!report.ok) throw new Error(formatPreflight(report))
 */
export interface PreflightReport {
  readonly ok: boolean
  readonly problems: readonly PreflightProblem[]
  /** What was checked and found good, one sentence each. */
  readonly passed: readonly string[]
}

/** What the validator hands to {@link runPreflight}: its resolved options and its own trust source. */
export interface PreflightContext {
  options: ResolvedValidatorOptions
  authority: string
  mode: TenantMode
  /** The metadata URL of the key document, as the trust source reads it. */
  metadataUrl: string
  source: TrustSource
  fetch: typeof fetch
}

/**
 * Checks a validator's configuration and its issuer before the first request: the audience forms fit
 * `tokenVersions`, the cloud and the authority agree, `resourceMetadata` names a resource the API accepts,
 * the tenant resolves, and the metadata and keys answer within `jwks.timeout` (this warms the validator).
 * Never rejects: an unexpected failure is a `preflight_failed` problem.
 *
 * @example
 * const report = await runPreflight(context)
 */
export async function runPreflight(c: PreflightContext): Promise<PreflightReport> {
  const problems: PreflightProblem[] = []
  const passed: string[] = []
  try {
    problems.push(...audienceProblems(c.options), ...authorityProblems(c), ...resourceProblems(c.options))
    await reach(c, problems, passed)
  } catch (err) {
    problems.push({
      code: 'preflight_failed',
      severity: 'error',
      message: `The preflight itself failed: ${err instanceof Error ? err.message : String(err)}`,
      fix: 'This is a bug in entraguard or in an injected fetch; please report it with this message',
    })
  }
  return Object.freeze({
    ok: problems.every((p) => p.severity !== 'error'),
    problems: Object.freeze(problems.map((p) => Object.freeze(p))),
    passed: Object.freeze(passed),
  })
}

/**
 * The report as text: one line per problem with its fix, then what passed.
 *
 * @example
 * console.log(formatPreflight(await validator.preflight()))
 */
export function formatPreflight(report: PreflightReport): string {
  const lines = [
    report.ok
      ? `entraguard preflight: ok${report.problems.length > 0 ? ` (${report.problems.length} warning${report.problems.length === 1 ? '' : 's'})` : ''}`
      : `entraguard preflight: ${report.problems.filter((p) => p.severity === 'error').length} error(s); tokens will be refused`,
  ]
  for (const p of report.problems) {
    lines.push(`  ${p.severity === 'error' ? '✗ error  ' : '! warning'} [${p.code}] ${p.message}`)
    lines.push(`    fix: ${p.fix}`)
  }
  for (const line of report.passed) lines.push(`  ✓ ${line}`)
  return lines.join('\n')
}

const quoted = (values: readonly string[]) => values.map((v) => `'${v}'`).join(', ')

/** v2 tokens carry the client ID as `aud`; v1 tokens the resource the client asked for (usually the App ID URI). */
function audienceProblems(o: ResolvedValidatorOptions): PreflightProblem[] {
  const audiences = typeof o.audience === 'string' ? [o.audience] : o.audience
  const ids = audiences.filter((a) => GUID.test(a))
  const uris = audiences.filter((a) => !GUID.test(a))
  const v1 = o.tokenVersions.includes(1)
  const v2 = o.tokenVersions.includes(2)
  const problems: PreflightProblem[] = []
  if (v2 && ids.length === 0) {
    problems.push(
      v1
        ? {
            code: 'audience_misses_version',
            severity: 'warning',
            message: `audience holds no client ID (GUID), only ${quoted(uris)}: v2 tokens carry the API's client ID as aud, so only v1 tokens can match`,
            fix: "If the API's manifest says accessTokenAcceptedVersion (api.requestedAccessTokenVersion) 2, add the client ID to audience; if it issues v1 tokens, set tokenVersions: [1]",
          }
        : {
            code: 'audience_never_matches',
            severity: 'error',
            message: `tokenVersions is [2] and audience holds no client ID (GUID), only ${quoted(uris)}: v2 tokens always carry the API's client ID as aud, so no token can match`,
            fix: `Add the API's application (client) ID to audience (audience: [${quoted(uris)}, '<client id>']), or accept v1 tokens if the manifest issues them (tokenVersions: [1])`,
          },
    )
  }
  if (v1 && uris.length === 0) {
    problems.push(
      v2
        ? {
            code: 'audience_misses_version',
            severity: 'warning',
            message: `audience holds only client IDs (${quoted(ids)}): a v1 token carries the resource the client asked for, usually the App ID URI, so v1 tokens match only when clients ask for the client ID`,
            fix: "If the API's manifest issues v2 tokens, set tokenVersions: [2]; if it issues v1 tokens, add the App ID URI (api://…) to audience",
          }
        : {
            code: 'audience_v1_client_id',
            severity: 'warning',
            message: `tokenVersions is [1] and audience holds only client IDs (${quoted(ids)}): v1 tokens carry the resource the client asked for, usually the App ID URI, so only clients that ask for the client ID itself get a token this API accepts`,
            fix: 'Add the App ID URI (Expose an API → Application ID URI, such as api://stock-api) to audience',
          },
    )
  }
  return problems
}

function cloudOfHost(host: string): Cloud | undefined {
  return (Object.keys(CLOUD_AUTHORITIES) as Cloud[]).find((c) => new URL(CLOUD_AUTHORITIES[c]).host === host)
}

function cloudMismatch(c: PreflightContext, found: Cloud, what: string): PreflightProblem {
  return {
    code: 'cloud_mismatch',
    // cloud: 'public' is the default: it may not have been chosen, and the authority wins.
    severity: c.options.cloud === 'public' ? 'warning' : 'error',
    message: `${what} belongs to the ${found} cloud, but cloud is '${c.options.cloud}'${c.options.cloud === 'public' ? ' (the default)' : ''}`,
    fix: `Set cloud: '${found}' and leave authority out (it follows the cloud), or point authority at ${CLOUD_AUTHORITIES[c.options.cloud]}`,
  }
}

function authorityProblems(c: PreflightContext): PreflightProblem[] {
  if (c.options.authority === undefined) return []
  const found = cloudOfHost(new URL(c.options.authority).host)
  return found === undefined || found === c.options.cloud
    ? []
    : [cloudMismatch(c, found, `authority ${c.options.authority}`)]
}

function resourceProblems(o: ResolvedValidatorOptions): PreflightProblem[] {
  const resource = o.resourceMetadata?.resource
  if (resource === undefined) return []
  const audiences = typeof o.audience === 'string' ? [o.audience] : o.audience
  const uris = audiences.filter((a) => !GUID.test(a))
  if (audiences.includes(resource) || (uris.length === 0 && !o.tokenVersions.includes(1))) return []
  const https = uris.filter((u) => u.startsWith('https://'))
  return [
    {
      code: 'resource_not_in_audience',
      severity: 'warning',
      message: `resourceMetadata.resource '${resource}' is not in audience (${quoted(audiences)}): clients ask Entra for a token for this resource, and a v1 token for it carries aud '${resource}', which this API refuses`,
      fix: `Make '${resource}' an Application ID URI of the app (Expose an API) and add it to audience${https.length > 0 ? `, or set resourceMetadata.resource to ${quoted(https)}` : ''}`,
    },
  ]
}

/** Warms the validator's own trust source, and says why it could not when it cannot. */
async function reach(c: PreflightContext, problems: PreflightProblem[], passed: string[]): Promise<void> {
  const started = performance.now()
  let snapshot: Awaited<ReturnType<TrustSource['current']>>
  try {
    snapshot = await c.source.current()
  } catch (err) {
    if (!isAuthError(err)) throw err
    problems.push(await unreachable(c, err.detail))
    return
  }
  const ms = Math.round(performance.now() - started)
  passed.push(
    `metadata ${c.metadataUrl} and key set ${snapshot.jwksUri} answered (${snapshot.keys.size} signing key${snapshot.keys.size === 1 ? '' : 's'}, ${ms} ms, limit ${c.options.jwks.timeout} ms per fetch)`,
  )
  const issuer = snapshot.issuers.get(snapshot.keysVersion) as string
  if (c.mode.kind === 'single') {
    const tid = tenantOfIssuer(issuer)
    passed.push(
      GUID.test(c.mode.tenant)
        ? `tenant ${c.mode.tenant} resolves (issuer ${issuer})`
        : `tenant ${c.mode.tenant} resolves to tenant ID ${tid} (issuer ${issuer})`,
    )
  } else {
    passed.push(`multi-tenant metadata of '${c.mode.tenant}' answers (issuer template ${issuer})`)
  }
  const v2 = snapshot.issuers.get(2)
  const found = v2 === undefined ? undefined : cloudOfHost(new URL(v2).host)
  if (found !== undefined && found !== c.options.cloud) {
    problems.push(cloudMismatch(c, found, `the issuer ${v2} that ${c.authority} serves`))
  } else if (found !== undefined) {
    passed.push(`the issuer is in the ${found} cloud, as configured`)
  }
}

/** Tells a tenant that does not exist (Entra answers 400 AADSTS90002) from an issuer that is out of reach. */
async function unreachable(c: PreflightContext, detail: string): Promise<PreflightProblem> {
  const tenant = c.mode.tenant
  let body = ''
  let status: number | undefined
  try {
    const response = await c.fetch(c.metadataUrl, {
      signal: AbortSignal.timeout(c.options.jwks.timeout),
      redirect: 'manual',
      headers: { accept: 'application/json' },
    })
    status = response.status
    body = (await response.text()).slice(0, 4096)
  } catch {
    // Unreachable again: the detail already says how.
  }
  if ((status === 400 || status === 404) && /invalid_tenant|AADSTS90002/.test(body)) {
    return {
      code: 'tenant_not_found',
      severity: 'error',
      message: `tenant '${tenant}' does not exist at ${c.authority}: ${c.metadataUrl} answered ${status} (AADSTS90002, tenant not found)`,
      fix: "Check the tenant ID or domain (Entra admin center → Overview: Tenant ID, Primary domain), and the cloud: a US Government or China tenant is not found in the public cloud (set cloud: 'usgov' or 'china')",
    }
  }
  return {
    code: 'metadata_unreachable',
    severity: 'error',
    message: `the metadata or keys did not answer within the limits: ${detail}`,
    fix: `Check that this host reaches ${new URL(c.metadataUrl).origin} (DNS, firewall, proxy); raise jwks.timeout (${c.options.jwks.timeout} ms) if the network is slow; check authority if it is set`,
  }
}
