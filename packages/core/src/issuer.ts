import { GUID } from './options.js'

/** The tenants whose tokens a validator accepts. */
export type TenantMode =
  | { kind: 'single'; tenant: string }
  | { kind: 'multi'; tenant: 'organizations' | 'common' }

/** The OpenID configuration URL of a tenant, for v1 or v2 tokens. */
export function metadataUrl(
  authority: string,
  mode: TenantMode,
  version: 1 | 2,
  appId: string | undefined,
): string {
  // There is no v1 document for 'organizations'; Microsoft.IdentityModel uses the 'common' one.
  const tenant = mode.kind === 'multi' && version === 1 ? 'common' : mode.tenant
  const path =
    version === 2
      ? `${tenant}/v2.0/.well-known/openid-configuration`
      : `${tenant}/.well-known/openid-configuration`
  const url = `${authority}/${path}`
  return appId === undefined ? url : `${url}?appid=${encodeURIComponent(appId)}`
}

/** The token version an issuer string is written for: v2 issuers end in `/v2.0`. */
export function issuerVersion(iss: string): 1 | 2 {
  return /\/v2\.0\/?$/.test(iss) ? 2 : 1
}

/** The tenant ID written in a concrete issuer, if any. */
export function tenantOfIssuer(issuer: string): string | undefined {
  const match = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i.exec(issuer)
  return match?.[0].toLowerCase()
}

/**
 * Microsoft's rule for tenant-independent metadata: `{tenantid}` in the template replaced by the token's
 * own `tid` must give exactly the token's `iss`. Ordinal, case-sensitive comparison.
 */
export function issuerMatches(template: string, tid: string, iss: string): boolean {
  return template.includes('{tenantid}') ? template.replace('{tenantid}', tid) === iss : template === iss
}

/** True for a tenant ID. */
export function isTenantId(value: unknown): value is string {
  return typeof value === 'string' && GUID.test(value)
}
