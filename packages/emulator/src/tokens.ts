import { createHash, randomBytes, randomUUID, sign } from 'node:crypto'
import type { App, Identity, Tenant, User } from './config.js'
import type { SigningKey } from './keys.js'

export const v1Issuer = (tid: string) => `https://sts.windows.net/${tid}/`
export const v2Issuer = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const opaque = (n: number) => randomBytes(n).toString('base64url')

/** Signs a JWT synchronously with RS256. `undefined` claim values are left out. */
export function signJwt(
  claims: Record<string, unknown>,
  key: Pick<SigningKey, 'kid' | 'privateKey'>,
  header: Record<string, unknown> = {},
): string {
  const h = { typ: 'JWT', alg: 'RS256', kid: key.kid, ...header }
  const clean = Object.fromEntries(Object.entries(claims).filter(([, v]) => v !== undefined))
  const input = `${b64(Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined)))}.${b64(clean)}`
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), key.privateKey).toString('base64url')}`
}

/** Who a token is for and who it is about. */
export interface TokenSubject {
  tenant: Tenant
  version: 1 | 2
  /** The exact resource the client asked for (v1 aud). */
  resource: string
  /** The target app's client ID (v2 aud). */
  targetClientId: string
  kind: 'app' | 'user'
  clientId: string
  /** '0' public, '1' secret, '2' certificate / managed identity. */
  clientAuth: '0' | '1' | '2'
  objectId: string
  roles: string[]
  scopes: string[]
  identity?: Identity | undefined
  user?: User | undefined
  lifetime: number
  notBefore?: number | undefined
}

/** The claims a real Entra access token of this shape carries. */
export function claimsFor(s: TokenSubject, nowSeconds: number): Record<string, unknown> {
  const iat = Math.floor(nowSeconds)
  const nbf = s.notBefore ?? iat
  const v1 = s.version === 1
  const iss = v1 ? v1Issuer(s.tenant.id) : v2Issuer(s.tenant.id)
  // sub is pairwise per app for users, and equals oid for app-only tokens.
  const sub =
    s.kind === 'app'
      ? s.objectId
      : createHash('sha256').update(`${s.objectId}:${s.targetClientId}`).digest('base64url').slice(0, 43)
  const claims: Record<string, unknown> = {
    aud: v1 ? s.resource : s.targetClientId,
    iss,
    iat,
    nbf,
    exp: iat + s.lifetime,
    aio: opaque(48),
    ...(v1
      ? { appid: s.clientId, appidacr: s.clientAuth, idp: v1 ? iss : undefined }
      : { azp: s.clientId, azpacr: s.clientAuth }),
    idtyp: s.kind === 'app' ? 'app' : undefined,
    name: s.user?.name,
    oid: s.objectId,
    preferred_username: v1 ? undefined : s.user?.username,
    rh: `1.${opaque(40)}.`,
    roles: s.roles.length > 0 ? s.roles : undefined,
    scp: s.kind === 'user' && s.scopes.length > 0 ? s.scopes.join(' ') : undefined,
    sub,
    tid: s.tenant.id,
    unique_name: v1 ? s.user?.username : undefined,
    upn: v1 ? s.user?.username : undefined,
    uti: opaque(16),
    ver: v1 ? '1.0' : '2.0',
    xms_mirid: s.identity?.resourceId,
    xms_tcdt: s.identity === undefined ? undefined : 1_700_000_000,
  }
  return claims
}

/** The header of a token of this version: v1 tokens also carry x5t. */
export function headerFor(version: 1 | 2, key: SigningKey): Record<string, unknown> {
  return version === 1
    ? { typ: 'JWT', alg: 'RS256', x5t: key.kid, kid: key.kid }
    : { typ: 'JWT', alg: 'RS256', kid: key.kid }
}

/** The roles an identity or app holds on a target app. */
export function rolesOn(target: App, assignments: { app: string; role: string }[]): string[] {
  return assignments.filter((a) => a.app === target.clientId).map((a) => a.role)
}

/** A fresh user object ID for mintToken's default user. */
export const newObjectId = () => randomUUID()
