import type { JWTPayload } from 'jose'
import { AuthError } from './errors.js'

/** Whether the caller is an application (managed identity, daemon) or a user through an application. */
export type IdentityType = 'app' | 'user'

/**
 * Who called: the validated token turned into plain, frozen data. Safe to log: it never holds the token.
 *
 * @example
 * const p = await validator.validate(req.headers.authorization)
 * if (p.identityType === 'app') console.log(p.clientId, p.roles, p.managedIdentityResourceId)
 */
export interface Principal {
  readonly tokenVersion: 1 | 2
  /** `tid` */
  readonly tenantId: string
  /** `oid`: the user's or service principal's object ID, stable across apps. Authorize on this with tenantId. */
  readonly objectId?: string
  /** `sub` (pairwise per app; equals oid for app-only tokens) */
  readonly subject?: string
  /** The calling application: `azp` (v2) or `appid` (v1). For a managed identity, its client ID. */
  readonly clientId: string
  /** How the client authenticated: `azpacr` / `appidacr` ('0' public, '1' secret, '2' certificate). */
  readonly clientAuthMethod?: string
  readonly identityType: IdentityType
  /** App roles (`roles`). */
  readonly roles: readonly string[]
  /** Delegated scopes (`scp`, split on spaces). */
  readonly scopes: readonly string[]
  /** Group object IDs (`groups`). */
  readonly groups: readonly string[]
  /** `xms_mirid`: the Azure resource ID of a managed identity. */
  readonly managedIdentityResourceId?: string
  /** Display name; never authorize on it. */
  readonly name?: string
  /** `preferred_username` / `upn` / `unique_name`; display only, never authorize on it. */
  readonly username?: string
  readonly expiresAt: Date
  /** Every claim, null-prototype and frozen. */
  readonly claims: Readonly<JWTPayload>
}

function malformed(detail: string): AuthError {
  return new AuthError('malformed_token', { description: 'The token is malformed', detail })
}

function optionalString(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw malformed(`The ${name} claim must be a string`)
  return value
}

function stringArray(claims: Record<string, unknown>, name: string): string[] {
  const value = claims[name]
  if (value === undefined) return []
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw malformed(`The ${name} claim must be an array of strings`)
  }
  return [...value]
}

/** The typed pieces of the claims that checks and the principal need; throws on wrongly typed claims. */
export interface ClaimFacts {
  clientId: string | undefined
  clientAuthMethod: string | undefined
  roles: string[]
  scopes: string[]
  groups: string[]
  identityType: IdentityType
  /** Whether `scp` or `roles` holds anything. */
  hasScopesOrRoles: boolean
}

/** Reads and type-checks the authorization claims (`scp` a string, `roles` an array of strings). */
export function readClaimFacts(claims: Record<string, unknown>, version: 1 | 2): ClaimFacts {
  const scp = optionalString(claims, 'scp')
  const scopes = scp === undefined ? [] : scp.split(' ').filter((s) => s !== '')
  const roles = stringArray(claims, 'roles')
  const groups = stringArray(claims, 'groups')
  const clientId = version === 2 ? optionalString(claims, 'azp') : optionalString(claims, 'appid')
  const clientAuthMethod =
    version === 2 ? optionalString(claims, 'azpacr') : optionalString(claims, 'appidacr')
  const idtyp = optionalString(claims, 'idtyp')
  // idtyp is the reliable signal when the API enabled it; otherwise a token without scp is app-only.
  const identityType: IdentityType =
    idtyp === 'app' ? 'app' : idtyp === 'user' ? 'user' : scp === undefined ? 'app' : 'user'
  return {
    clientId,
    clientAuthMethod,
    roles,
    scopes,
    groups,
    identityType,
    hasScopesOrRoles: scopes.length > 0 || roles.length > 0,
  }
}

/** Builds the frozen {@link Principal}. */
export function toPrincipal(
  claims: Record<string, unknown>,
  facts: ClaimFacts,
  version: 1 | 2,
  tenantId: string,
  exp: number,
): Principal {
  const principal: Record<string, unknown> = {
    tokenVersion: version,
    tenantId,
    clientId: facts.clientId ?? '',
    identityType: facts.identityType,
    roles: Object.freeze(facts.roles),
    scopes: Object.freeze(facts.scopes),
    groups: Object.freeze(facts.groups),
    expiresAt: new Date(exp * 1000),
    claims: Object.freeze(claims),
  }
  const optional: [string, unknown][] = [
    ['objectId', claims.oid],
    ['subject', claims.sub],
    ['clientAuthMethod', facts.clientAuthMethod],
    ['managedIdentityResourceId', claims.xms_mirid],
    ['name', claims.name],
    ['username', claims.preferred_username ?? claims.upn ?? claims.unique_name],
  ]
  for (const [key, value] of optional) if (typeof value === 'string') principal[key] = value
  return Object.freeze(principal) as unknown as Principal
}
