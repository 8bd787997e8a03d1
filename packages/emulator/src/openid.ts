import type { Tenant } from './config.js'
import type { Directory } from './directory.js'
import { v1Issuer, v2Issuer } from './tokens.js'

/** The OpenID configuration document Entra serves for a tenant (or common/organizations), v1 or v2. */
export function openidConfiguration(
  base: string,
  segment: string,
  tenant: Tenant | 'multi',
  v2: boolean,
  appid: string | null,
): unknown {
  const tid = tenant === 'multi' ? '{tenantid}' : tenant.id
  const q = appid === null ? '' : `?appid=${encodeURIComponent(appid)}`
  const keysSegment = tenant === 'multi' && !v2 ? 'common' : segment
  const common = {
    token_endpoint_auth_methods_supported: ['client_secret_post', 'private_key_jwt', 'client_secret_basic'],
    response_modes_supported: ['query', 'fragment', 'form_post'],
    subject_types_supported: ['pairwise'],
    id_token_signing_alg_values_supported: ['RS256'],
    response_types_supported: ['code', 'id_token', 'code id_token', 'token id_token', 'token'],
    http_logout_supported: true,
    frontchannel_logout_supported: true,
    request_uri_parameter_supported: false,
    tenant_region_scope: 'NA',
    cloud_instance_name: 'microsoftonline.com',
    cloud_graph_host_name: 'graph.windows.net',
    msgraph_host: 'graph.microsoft.com',
    rbac_url: 'https://pas.windows.net',
  }
  if (v2) {
    return {
      token_endpoint: `${base}/${segment}/oauth2/v2.0/token`,
      jwks_uri: `${base}/${keysSegment}/discovery/v2.0/keys${q}`,
      issuer: v2Issuer(tid),
      authorization_endpoint: `${base}/${segment}/oauth2/v2.0/authorize`,
      device_authorization_endpoint: `${base}/${segment}/oauth2/v2.0/devicecode`,
      end_session_endpoint: `${base}/${segment}/oauth2/v2.0/logout`,
      kerberos_endpoint: `${base}/${segment}/kerberos`,
      userinfo_endpoint: 'https://graph.microsoft.com/oidc/userinfo',
      scopes_supported: ['openid', 'profile', 'email', 'offline_access'],
      claims_supported: [
        'sub',
        'iss',
        'cloud_instance_name',
        'cloud_instance_host_name',
        'cloud_graph_host_name',
        'msgraph_host',
        'aud',
        'exp',
        'iat',
        'auth_time',
        'acr',
        'nonce',
        'preferred_username',
        'name',
        'tid',
        'ver',
        'at_hash',
        'c_hash',
        'email',
      ],
      ...common,
    }
  }
  return {
    token_endpoint: `${base}/${segment}/oauth2/token`,
    jwks_uri: `${base}/${keysSegment}/discovery/keys${q}`,
    issuer: v1Issuer(tid),
    authorization_endpoint: `${base}/${segment}/oauth2/authorize`,
    device_authorization_endpoint: `${base}/${segment}/oauth2/devicecode`,
    end_session_endpoint: `${base}/${segment}/oauth2/logout`,
    check_session_iframe: `${base}/${segment}/oauth2/checksession`,
    userinfo_endpoint: `${base}/${segment}/openid/userinfo`,
    microsoft_multi_refresh_token: true,
    scopes_supported: ['openid'],
    claims_supported: [
      'sub',
      'iss',
      'cloud_instance_name',
      'cloud_instance_host_name',
      'cloud_graph_host_name',
      'msgraph_host',
      'aud',
      'exp',
      'iat',
      'auth_time',
      'acr',
      'amr',
      'nonce',
      'email',
      'given_name',
      'family_name',
      'nickname',
    ],
    ...common,
  }
}

export function keySet(dir: Directory, v2: boolean, appid: string | null): unknown {
  const appKey = appid === null ? undefined : dir.appKeys.get(appid.toLowerCase())
  const list = appKey !== undefined ? [appKey] : dir.published()
  // v2 key sets tie each key to an issuer; v1 sets carry none.
  return { keys: list.map((k) => (v2 ? { ...k.jwk, issuer: v2Issuer('{tenantid}') } : k.jwk)) }
}
