import { verify as verifySignature } from 'node:crypto'
import { shown } from './audience.js'
import { AuthError } from './errors.js'
import { issuerVersion, isTenantId } from './issuer.js'
import type { ClaimFacts, IdentityType } from './principal.js'
import type { SigningKey } from './signing-keys.js'

// The token checks that need no network, each a pure function that returns the AuthError of its rule
// rather than throwing it: on Node 20 a throw costs more than most checks (issue 9).

function malformed(detail: string): AuthError {
  return new AuthError('malformed_token', { description: 'The token is malformed', detail })
}

function invalidIssuer(detail: string, description = 'The token issuer is invalid'): AuthError {
  return new AuthError('invalid_issuer', { description, detail })
}

/** RS256 only, no `crit`/`b64`, and a usable key ID. Returns the kid (`x5t` for old v1 headers). */
export function checkHeader(header: Record<string, unknown>): string | AuthError {
  if (header.alg !== 'RS256') {
    return new AuthError('unsupported_algorithm', {
      description: 'The token is signed with an unsupported algorithm',
      detail: `alg is ${shown(header.alg)}; Entra ID signs access tokens with RS256 and only RS256 is accepted${header.alg === 'none' ? ' (an unsigned token is never accepted)' : ''}`,
    })
  }
  if (header.crit !== undefined || header.b64 !== undefined) {
    return malformed('The token header has crit or b64 parameters, which Entra never sends')
  }
  const kid =
    typeof header.kid === 'string' ? header.kid : typeof header.x5t === 'string' ? header.x5t : undefined
  if (kid === undefined || kid.length > 128 || !/^[A-Za-z0-9_\-+/=.]+$/.test(kid)) {
    return malformed('The token header has no usable kid (key ID)')
  }
  return kid
}

/** What the token says about where it comes from, checked for shape and consistency. */
export interface TokenOrigin {
  iss: string
  /** `tid` as the token writes it: it must appear in `iss` exactly (ordinal), as Microsoft compares it. */
  tid: string
  /** `tid` in lower case, for the principal and allow-lists. */
  tenantId: string
  version: 1 | 2
}

/** `iss` a string, `tid` a GUID, and `ver` agreeing with the form of `iss`. */
export function readOrigin(payload: Record<string, unknown>): TokenOrigin | AuthError {
  const { iss, tid, ver } = payload
  if (typeof iss !== 'string') return malformed('The token has no iss claim')
  if (!isTenantId(tid)) {
    return malformed(
      `The tid claim must be a tenant ID (GUID); it is ${tid === undefined ? 'missing' : shown(tid)}`,
    )
  }
  const form = issuerVersion(iss)
  const version = ver === '1.0' ? 1 : ver === '2.0' ? 2 : ver === undefined ? form : undefined
  if (version === undefined || form !== version) {
    return invalidIssuer(
      `ver ${shown(ver)} does not agree with the issuer form of ${shown(iss)} (v1 issuers are https://sts.windows.net/<tid>/, v2 issuers end in /v2.0)`,
    )
  }
  return { iss, tid, tenantId: tid.toLowerCase(), version }
}

/** Verifies the RS256 signature with node:crypto and a KeyObject imported once (the hot path stays synchronous). */
export function checkSignature(
  signingInput: Buffer,
  signature: Buffer,
  key: SigningKey,
): AuthError | undefined {
  let valid: boolean
  try {
    valid = verifySignature('RSA-SHA256', signingInput, key.key, signature)
  } catch (cause) {
    return new AuthError('invalid_signature', {
      description: 'The token signature is invalid',
      detail: 'The signature could not be checked with the key',
      cause,
    })
  }
  if (valid) return undefined
  return new AuthError('invalid_signature', {
    description: 'The token signature is invalid',
    detail: `The signature does not verify with key ${key.kid}: the token was altered or forged`,
  })
}

/**
 * A key that names its issuer (v2 key sets) signs only for that issuer, `{tenantid}` substituted: a v2 token's
 * `iss` exactly, and for a v1 token the v2 issuer of the same tenant (`v2Issuer`, the v2.0 metadata issuer,
 * given when the keys come from the v2.0 key set), as Microsoft.IdentityModel's signing-key issuer check maps it.
 */
export function checkKeyIssuer(
  key: SigningKey,
  origin: TokenOrigin,
  v2Issuer: string | undefined,
): AuthError | undefined {
  if (key.issuer === undefined) return undefined
  const expected =
    origin.version === 1 && v2Issuer !== undefined
      ? v2Issuer.replace('{tenantid}', origin.tenantId)
      : origin.iss
  if (key.issuer.replace('{tenantid}', origin.tenantId) === expected) return undefined
  return invalidIssuer(
    `The signing key ${key.kid} belongs to issuer ${key.issuer}, not to ${shown(origin.iss)}${origin.version === 1 && v2Issuer !== undefined ? ` (a v1 token of tenant ${origin.tenantId} is signed by keys of ${expected})` : ''} (signing-key issuer validation, as Microsoft.Identity.Web does)`,
  )
}

function numericClaim(
  payload: Record<string, unknown>,
  name: string,
  required: boolean,
): number | undefined | AuthError {
  const value = payload[name]
  if (value === undefined && !required) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return malformed(
      `The ${name} claim must be a finite number of seconds; it is ${value === undefined ? 'missing' : shown(value)}`,
    )
  }
  return value
}

const at = (seconds: number) => new Date(seconds * 1000).toISOString()

/** `exp` and `iat` required, `nbf` honoured, all finite and in order, within the clock tolerance. Returns exp. */
export function checkLifetime(
  payload: Record<string, unknown>,
  nowSeconds: number,
  tolerance: number,
): number | AuthError {
  const exp = numericClaim(payload, 'exp', true)
  if (typeof exp !== 'number') return exp as AuthError
  const iat = numericClaim(payload, 'iat', true)
  if (typeof iat !== 'number') return iat as AuthError
  const nbf = numericClaim(payload, 'nbf', false)
  if (nbf instanceof AuthError) return nbf
  if (exp < iat || (nbf !== undefined && nbf > exp)) {
    return malformed('The token expires before it was issued or before it becomes valid')
  }
  if (nowSeconds > exp + tolerance) {
    return new AuthError('expired', {
      description: 'The token is expired',
      detail: `The token expired at ${at(exp)} (now ${at(nowSeconds)}, tolerance ${tolerance} s); the client must get a new one`,
    })
  }
  if ((nbf !== undefined && nowSeconds + tolerance < nbf) || iat > nowSeconds + tolerance) {
    return new AuthError('not_yet_valid', {
      description: 'The token is not valid yet',
      detail: `The token becomes valid at ${at(nbf ?? iat)}; now is ${at(nowSeconds)} (tolerance ${tolerance} s). Check this host's clock`,
    })
  }
  return exp
}

/** Which callers may come in at all. */
export interface CallerRules {
  allowedClientIds: ReadonlySet<string> | undefined
  allowedIdentityTypes: readonly IdentityType[]
  allowTokensWithoutScopesOrRoles: boolean
}

/** The calling app is named and allowed, its identity type allowed, and it carries scopes or roles. */
export function checkCaller(facts: ClaimFacts, version: 1 | 2, rules: CallerRules): string | AuthError {
  const clientId = facts.clientId
  if (clientId === undefined) {
    return malformed(`The token has no ${version === 2 ? 'azp' : 'appid'} claim (the calling application)`)
  }
  if (rules.allowedClientIds !== undefined && !rules.allowedClientIds.has(clientId)) {
    return new AuthError('client_not_allowed', {
      description: 'The calling application may not call this API',
      detail: `Client application ${clientId} is not in allowedClientIds`,
    })
  }
  if (!rules.allowedIdentityTypes.includes(facts.identityType)) {
    return new AuthError('identity_type_not_allowed', {
      description: `Tokens of ${facts.identityType === 'app' ? 'applications' : 'users'} are not accepted`,
      detail: `The token is ${facts.identityType === 'app' ? 'app-only' : 'delegated (a user)'} and allowedIdentityTypes is [${rules.allowedIdentityTypes.join(', ')}]`,
    })
  }
  if (!facts.hasScopesOrRoles && !rules.allowTokensWithoutScopesOrRoles) {
    return new AuthError('no_scope_or_role', {
      description: 'The token carries neither scopes nor roles',
      detail: `The token of client ${clientId} has no scp and no roles: Entra issues such tokens to any application of the tenant. Assign an app role to the caller (and turn on "assignment required"), or set allowTokensWithoutScopesOrRoles: true if this API authorizes callers by its own assignments`,
    })
  }
  return clientId
}
