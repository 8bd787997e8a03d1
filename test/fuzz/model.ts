// A tiny reference model of the rules in DESIGN.md ("Decisions on edge cases", token hardening), written
// apart from core so that fuzzing can compare the validator with it. It judges tokens whose signature is
// good (signed by the lab key) and returns every rule they break; the validator must refuse with one of them.

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const KID = /^[A-Za-z0-9_\-+/=.]{1,128}$/
const GRAPH = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://graph.microsoft.com/',
  'https://graph.microsoft.us',
  'https://graph.microsoft.us/',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
])

/** What the model knows of the API: one tenant, its audiences, the lab key, the clock. */
export interface ModelApi {
  tenantId: string
  audiences: readonly string[]
  kid: string
  nowSeconds: number
  tolerance: number
}

/**
 * The codes a validator may answer for a token with this header and payload (signed by the key the API
 * trusts), or an empty list when it must accept it.
 */
export function expectedCodes(
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
  api: ModelApi,
): string[] {
  const codes = new Set<string>()
  // A Graph token is named before anything else, and never accepted.
  if (header.nonce !== undefined || (typeof claims.aud === 'string' && GRAPH.has(claims.aud))) {
    return ['invalid_audience']
  }
  if (header.alg !== 'RS256') codes.add('unsupported_algorithm')
  if (header.crit !== undefined || header.b64 !== undefined) codes.add('malformed_token')
  const kid =
    typeof header.kid === 'string' ? header.kid : typeof header.x5t === 'string' ? header.x5t : undefined
  if (kid === undefined || !KID.test(kid)) codes.add('malformed_token')
  else if (kid !== api.kid) codes.add('unknown_key')

  const { iss, tid, ver, aud } = claims
  const v2Form = typeof iss === 'string' && /\/v2\.0\/?$/.test(iss)
  const version = ver === '1.0' ? 1 : ver === '2.0' ? 2 : ver === undefined ? (v2Form ? 2 : 1) : undefined
  if (typeof iss !== 'string' || typeof tid !== 'string' || !GUID.test(tid)) codes.add('malformed_token')
  else if (version === undefined || (version === 2) !== v2Form) codes.add('invalid_issuer')
  else {
    // tid must be written exactly as in iss (Entra writes lower case); the model's tenant is lower case.
    if (tid !== api.tenantId) codes.add('invalid_issuer')
    const expected =
      version === 1
        ? `https://sts.windows.net/${api.tenantId}/`
        : `https://login.microsoftonline.com/${api.tenantId}/v2.0`
    if (iss !== expected) codes.add('invalid_issuer')
  }
  if (typeof aud !== 'string' || !api.audiences.includes(aud)) codes.add('invalid_audience')

  const number = (v: unknown) => typeof v === 'number' && Number.isFinite(v)
  const { exp, iat, nbf } = claims
  if (!number(exp) || !number(iat) || (nbf !== undefined && !number(nbf))) codes.add('malformed_token')
  else {
    const [e, i, n] = [exp as number, iat as number, nbf as number | undefined]
    if (e < i || (n !== undefined && n > e)) codes.add('malformed_token')
    else if (api.nowSeconds > e + api.tolerance) codes.add('expired')
    else if ((n !== undefined && n > api.nowSeconds + api.tolerance) || i > api.nowSeconds + api.tolerance)
      codes.add('not_yet_valid')
  }

  const isString = (v: unknown) => v === undefined || typeof v === 'string'
  const isStrings = (v: unknown) =>
    v === undefined || (Array.isArray(v) && v.every((x) => typeof x === 'string'))
  const client = version === 2 ? 'azp' : 'appid'
  const clientAcr = version === 2 ? 'azpacr' : 'appidacr'
  if (!isString(claims.scp) || !isStrings(claims.roles) || !isStrings(claims.groups))
    codes.add('malformed_token')
  if (!isString(claims.idtyp) || !isString(claims[clientAcr])) codes.add('malformed_token')
  if (typeof claims[client] !== 'string') codes.add('malformed_token')
  const scopes = typeof claims.scp === 'string' ? claims.scp.split(' ').filter((s) => s !== '') : []
  const roles = Array.isArray(claims.roles) ? claims.roles : []
  if (scopes.length === 0 && roles.length === 0) codes.add('no_scope_or_role')
  return [...codes]
}

/**
 * Whether an `Authorization` value carries exactly `token`: a bare token, or the Bearer scheme (any case)
 * and one or more spaces before it, with surrounding whitespace ignored (DESIGN.md, Authorization header).
 */
export function carriesToken(value: string, token: string): boolean {
  const trimmed = value.trim()
  if (trimmed === token) return true
  const match = /^bearer +/i.exec(trimmed)
  return match !== null && trimmed.slice(match[0].length) === token
}
