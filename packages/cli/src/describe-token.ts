import { type AuthErrorCode, isGraphAudience } from '@entraguard/core'
import { decodeJwt, decodeProtectedHeader, type JWTPayload } from 'jose'

/** The tenant of personal Microsoft accounts (outlook.com, xbox.com, …). */
export const PERSONAL_ACCOUNTS_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** What a finding is about; `error` findings make the token invalid (exit code 1). */
export type FindingId =
  | 'expired'
  | 'no_expiry'
  | 'not_yet_valid'
  | 'within_tolerance'
  | 'graph_token'
  | 'id_token'
  | 'no_client'
  | 'token_version'
  | 'no_scope_or_role'
  | 'personal_account'
  | 'roles_fixed_at_issue'

/** Something that looks wrong (or that the reader must know) about a decoded token. */
export interface Finding {
  readonly id: FindingId
  readonly severity: 'error' | 'warning' | 'info'
  readonly message: string
  /** The AuthError code whose troubleshooting entry explains it (`entraguard inspect --explain <code>`). */
  readonly code?: AuthErrorCode
}

/** Who the token speaks for. */
export interface Caller {
  readonly kind: 'app' | 'managed_identity' | 'user'
  /** `appid` (v1) or `azp` (v2): the calling application; a managed identity's client ID. */
  readonly clientId?: string
  readonly objectId?: string
  /** `xms_mirid`. */
  readonly managedIdentityResourceId?: string
  readonly managedIdentityKind?: 'system-assigned' | 'user-assigned'
  /** `upn` / `unique_name` / `preferred_username`: display only. */
  readonly username?: string
  readonly name?: string
}

/** A token decoded without trusting it: nothing here is verified. */
export interface TokenReport {
  readonly header: {
    readonly alg?: string
    readonly typ?: string
    readonly kid?: string
    readonly x5t?: string
    readonly nonce: boolean
  }
  readonly version: 1 | 2 | undefined
  readonly tenantId: string | undefined
  readonly issuer: string | undefined
  readonly audience: unknown
  readonly caller: Caller
  readonly roles: readonly string[]
  readonly scopes: readonly string[]
  readonly issuedAt: Date | undefined
  readonly notBefore: Date | undefined
  readonly expiresAt: Date | undefined
  /** Every claim of the payload (the signature is never kept). */
  readonly claims: Readonly<JWTPayload>
  readonly findings: readonly Finding[]
  /** False when a finding is an error: expired, not yet valid, a Graph token, an ID token. */
  readonly valid: boolean
}

/** Thrown by {@link describeToken} for a string that is not a signed JWT. */
export class NotAJwtError extends Error {
  override readonly name = 'NotAJwtError'
}

/** What {@link describeToken} takes besides the token. */
export interface DescribeOptions {
  /** Epoch milliseconds; default `Date.now()`. */
  now?: number
  /** Seconds, as the validator's `clockTolerance` (default 300). */
  clockTolerance?: number
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined)
const date = (v: unknown): Date | undefined =>
  typeof v === 'number' && Number.isFinite(v) ? new Date(v * 1000) : undefined
const optional = <K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } =>
  (value === undefined ? {} : { [key]: value }) as { [P in K]?: V }

function decode(token: string): { header: Record<string, unknown>; payload: JWTPayload } {
  const bare = token.trim().replace(/^bearer\s+/i, '')
  const parts = bare.split('.').length
  if (parts === 5) {
    throw new NotAJwtError(
      'The token has five parts: it is encrypted (JWE). Entra encrypts tokens only for SAML apps; ask for an unencrypted access token',
    )
  }
  if (parts !== 3) throw new NotAJwtError(`A JWT has three dot-separated parts; this one has ${parts}`)
  try {
    return { header: decodeProtectedHeader(bare) as Record<string, unknown>, payload: decodeJwt(bare) }
  } catch (err) {
    throw new NotAJwtError(`The token cannot be decoded: ${(err as Error).message}`)
  }
}

function versionOf(payload: JWTPayload): 1 | 2 | undefined {
  if (payload.ver === '1.0') return 1
  if (payload.ver === '2.0') return 2
  const iss = str(payload.iss)
  return iss === undefined ? undefined : /\/v2\.0\/?$/.test(iss) ? 2 : 1
}

function callerOf(payload: JWTPayload, version: 1 | 2 | undefined): Caller {
  const scp = str(payload.scp)
  const idtyp = str(payload.idtyp)
  // The validator's reading: idtyp when the API enabled it, otherwise a token without scp is app-only.
  const user = idtyp === 'user' || (idtyp !== 'app' && scp !== undefined)
  const mirid = str(payload.xms_mirid)
  const clientId = version === 1 ? str(payload.appid) : version === 2 ? str(payload.azp) : undefined
  const common = {
    ...optional('clientId', clientId ?? str(payload.azp) ?? str(payload.appid)),
    ...optional('objectId', str(payload.oid)),
    ...optional('name', str(payload.name)),
  }
  if (user) {
    const username = str(payload.upn) ?? str(payload.unique_name) ?? str(payload.preferred_username)
    return { kind: 'user', ...common, ...optional('username', username) }
  }
  if (mirid !== undefined) {
    return {
      kind: 'managed_identity',
      ...common,
      managedIdentityResourceId: mirid,
      managedIdentityKind: /\/providers\/Microsoft\.ManagedIdentity\/userAssignedIdentities\//i.test(mirid)
        ? 'user-assigned'
        : 'system-assigned',
    }
  }
  return { kind: 'app', ...common }
}

function rolesOf(payload: JWTPayload): string[] {
  return Array.isArray(payload.roles) ? payload.roles.filter((r): r is string => typeof r === 'string') : []
}

function scopesOf(payload: JWTPayload): string[] {
  return (str(payload.scp) ?? '').split(' ').filter((s) => s !== '')
}

const minutes = (seconds: number) => {
  const m = Math.round(Math.abs(seconds) / 60)
  return m < 120 ? `${m} min` : `${Math.floor(m / 60)} h ${m % 60} min`
}

/** The lifetime findings: expired, not yet valid, or past exp but within the tolerance. */
function lifetimeFindings(payload: JWTPayload, nowSeconds: number, tolerance: number): Finding[] {
  const exp = typeof payload.exp === 'number' ? payload.exp : undefined
  const start =
    typeof payload.nbf === 'number' ? payload.nbf : typeof payload.iat === 'number' ? payload.iat : undefined
  if (exp === undefined) {
    return [
      {
        id: 'no_expiry',
        severity: 'error',
        message: 'No exp claim: such a token is never accepted',
        code: 'malformed_token',
      },
    ]
  }
  if (nowSeconds > exp + tolerance) {
    return [
      {
        id: 'expired',
        severity: 'error',
        message: `Expired ${minutes(nowSeconds - exp)} ago. The client must get a new token (clients refresh on their own; a cached copy sent after exp is a client bug)`,
        code: 'expired',
      },
    ]
  }
  if (start !== undefined && start > nowSeconds + tolerance) {
    return [
      {
        id: 'not_yet_valid',
        severity: 'error',
        message: `Not valid for another ${minutes(start - nowSeconds)}: this machine's clock or the issuer's is wrong`,
        code: 'not_yet_valid',
      },
    ]
  }
  if (nowSeconds > exp) {
    return [
      {
        id: 'within_tolerance',
        severity: 'warning',
        message: `Expired ${minutes(nowSeconds - exp)} ago, but within the ${tolerance} s clock tolerance: still accepted, not for long`,
        code: 'expired',
      },
    ]
  }
  return []
}

function graphFinding(header: Record<string, unknown>, aud: unknown): Finding[] {
  const byAud = isGraphAudience(aud)
  if (header.nonce === undefined && !byAud) return []
  return [
    {
      id: 'graph_token',
      severity: 'error',
      message: `A token for Microsoft Graph (${byAud ? `aud ${String(aud)}` : 'a nonce in the header'}${byAud && header.nonce !== undefined ? ', a nonce in the header' : ''}), not for your API: only Graph can validate it. The client must ask for a token for your API: scope 'api://<your API>/.default' (resource 'api://<your API>' for a managed identity)`,
      code: 'invalid_audience',
    },
  ]
}

/** OIDC ID tokens carry nonce, at_hash or c_hash in the payload; Entra access tokens never do. */
function idTokenFindings(
  payload: JWTPayload,
  version: 1 | 2 | undefined,
  clientId: string | undefined,
): Finding[] {
  const marks = ['nonce', 'at_hash', 'c_hash'].filter((c) => payload[c] !== undefined)
  if (marks.length > 0) {
    return [
      {
        id: 'id_token',
        severity: 'error',
        message: `An ID token (it carries ${marks.join(', ')}), not an access token: ID tokens tell the client who signed in and never authorize a call to an API. Send the access token the client got for your API instead`,
        code: 'no_scope_or_role',
      },
    ]
  }
  if (clientId === undefined) {
    return [
      {
        id: 'no_client',
        severity: 'warning',
        message: `No ${version === 2 ? 'azp' : version === 1 ? 'appid' : 'appid/azp'} claim: every Entra access token names the calling app, so this is likely an ID token or not an Entra access token`,
        code: 'malformed_token',
      },
    ]
  }
  return []
}

function versionFinding(version: 1 | 2 | undefined, aud: unknown): Finding[] {
  if (version === undefined) return []
  const audText = typeof aud === 'string' ? `'${aud}'` : 'its aud'
  const message =
    version === 1
      ? `A v1.0 token (iss https://sts.windows.net/<tid>/): aud is exactly the resource the client asked for, here ${audText}${typeof aud === 'string' && GUID.test(aud) ? ' (a client ID)' : ' (an App ID URI)'}; the API's audience must list it as written. Managed identities get v1 tokens unless the API's manifest sets requestedAccessTokenVersion: 2`
      : `A v2.0 token (iss https://login.microsoftonline.com/<tid>/v2.0): aud is the API's client ID, here ${audText}${typeof aud === 'string' && !GUID.test(aud) ? ' (not a GUID: unusual for v2)' : ''}; the API's audience must list that client ID`
  return [{ id: 'token_version', severity: 'info', message, code: 'invalid_audience' }]
}

function roleFindings(report: {
  caller: Caller
  roles: string[]
  scopes: string[]
  payload: JWTPayload
}): Finding[] {
  const { caller, roles, scopes, payload } = report
  const findings: Finding[] = []
  if (roles.length === 0 && scopes.length === 0) {
    findings.push({
      id: 'no_scope_or_role',
      severity: 'warning',
      message:
        caller.kind === 'user'
          ? 'No scp and no roles: the client asked for no delegated permission of the API. An API refuses such tokens (403) unless it authorizes callers by its own assignments'
          : 'No roles: no app role of the API is assigned to this caller (assign one to its service principal, and turn on "assignment required"). An API refuses such tokens (403) unless it authorizes callers by its own assignments',
      code: 'no_scope_or_role',
    })
  }
  if (
    caller.kind === 'managed_identity' &&
    typeof payload.iat === 'number' &&
    typeof payload.exp === 'number'
  ) {
    findings.push({
      id: 'roles_fixed_at_issue',
      severity: 'info',
      message: `Roles are those assigned when the token was issued. IMDS hands out the same cached token until shortly before exp (lifetime ${minutes(payload.exp - payload.iat)}): a role assigned after iat shows up only in the next token`,
      code: 'insufficient_scope',
    })
  }
  return findings
}

/**
 * Decodes an access token WITHOUT trusting it (no signature check, no network) and says what it is and what
 * looks wrong: version, tenant, audience, caller, roles, scopes, lifetime, and findings such as an expired
 * token, a Microsoft Graph token, an ID token or a token without roles. Never keeps the signature.
 *
 * @example
 * const report = describeToken(token)
 * if (!report.valid) console.log(report.findings.filter((f) => f.severity === 'error'))
 */
export function describeToken(token: string, options: DescribeOptions = {}): TokenReport {
  const { header, payload } = decode(token)
  const version = versionOf(payload)
  const caller = callerOf(payload, version)
  const roles = rolesOf(payload)
  const scopes = scopesOf(payload)
  const nowSeconds = (options.now ?? Date.now()) / 1000
  const tid = str(payload.tid)
  const graph = graphFinding(header, payload.aud)
  // For a Graph token, advice about audiences and roles of "your API" would only distract.
  const findings: Finding[] = [
    ...lifetimeFindings(payload, nowSeconds, options.clockTolerance ?? 300),
    ...graph,
    ...idTokenFindings(payload, version, version === undefined ? undefined : caller.clientId),
    ...(graph.length > 0 ? [] : versionFinding(version, payload.aud)),
    ...(graph.length > 0 ? [] : roleFindings({ caller, roles, scopes, payload })),
  ]
  if (tid?.toLowerCase() === PERSONAL_ACCOUNTS_TENANT) {
    findings.push({
      id: 'personal_account',
      severity: 'warning',
      message:
        'A personal Microsoft account (tid 9188040d-…, outlook.com / live.com): only an API registered for personal accounts (signInAudience AzureADandPersonalMicrosoftAccount, v2 tokens) and a multi-tenant validator that allows this tenant accept it',
      code: 'tenant_not_allowed',
    })
  }
  return {
    header: {
      ...optional('alg', str(header.alg)),
      ...optional('typ', str(header.typ)),
      ...optional('kid', str(header.kid)),
      ...optional('x5t', str(header.x5t)),
      nonce: header.nonce !== undefined,
    },
    version,
    tenantId: tid,
    issuer: str(payload.iss),
    audience: payload.aud,
    caller,
    roles,
    scopes,
    issuedAt: date(payload.iat),
    notBefore: date(payload.nbf),
    expiresAt: date(payload.exp),
    claims: payload,
    findings,
    valid: !findings.some((f) => f.severity === 'error'),
  }
}
