import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import type { AddressInfo } from 'node:net'
import {
  type App,
  type EmulatorConfig,
  type EmulatorOptions,
  type Identity,
  resolveConfig,
  type Tenant,
  type User,
} from './config.js'
import { aadError, queryOf, readBody, sendJson } from './http.js'
import { createSigningKey, createTlsCertificate, type SigningKey } from './keys.js'
import {
  claimsFor,
  headerFor,
  newObjectId,
  rolesOn,
  signJwt,
  type TokenSubject,
  v1Issuer,
  v2Issuer,
} from './tokens.js'

/** Options of {@link Emulator.mintToken}. Everything defaults to a valid app-only token for the first app. */
export interface MintOptions {
  /** Tenant ID or domain; default the first tenant. Any GUID works, for "other tenant" tokens. */
  tenant?: string
  /** Target: an app's client ID or App ID URI, or any string for a wrong-audience token. */
  audience?: string
  version?: 1 | 2
  identity?: 'app' | 'user'
  /** Take client ID, object ID and xms_mirid from a configured managed identity (name or client ID). */
  managedIdentity?: string
  roles?: string[]
  scopes?: string[]
  clientId?: string
  objectId?: string
  /** Seconds until exp; negative for an expired token. */
  expiresIn?: number
  /** Seconds from now until nbf; positive for a not-yet-valid token. */
  notBefore?: number
  /** Extra or overriding claims; `undefined` removes one. */
  claims?: Record<string, unknown>
  /** Extra or overriding header parameters. */
  header?: Record<string, unknown>
  /** Sign with a key that is published nowhere. */
  unpublishedKey?: boolean
}

/** A running emulator, see {@link startEmulator}. */
export interface Emulator {
  /** `http(s)://127.0.0.1:PORT`: give it to `createValidator({ authority })`. */
  readonly authority: string
  /** The default tenant's ID. */
  readonly tenantId: string
  /** Bare origin for `AZURE_POD_IDENTITY_AUTHORITY_HOST` (clients append /metadata/identity/oauth2/token). */
  readonly imdsEndpoint: string
  /** Full URL for `IDENTITY_ENDPOINT` (App Service protocol). */
  readonly appServiceEndpoint: string
  /** The value for `IDENTITY_HEADER`. */
  readonly appServiceSecret: string
  /** PEM of the TLS certificate with `https: true`, for `NODE_EXTRA_CA_CERTS`. */
  readonly caCertificate: string | undefined
  readonly config: Readonly<EmulatorConfig>
  /** Signs a token now (synchronous). */
  mintToken(options?: MintOptions): string
  /** Publishes a new signing key and signs with it; the old one stays published for `keyGracePeriod`. Returns the new kid. */
  rotateKeys(): string
  /** The kids currently published. */
  publishedKids(): string[]
  /** Makes the next `times` IMDS / App Service token requests fail with `status` (and Retry-After). */
  failNextTokenRequests(fault: { times: number; status: number; retryAfter?: number }): void
  /** The requests seen (the last 5,000 to 10,000): method and path (no query, no secrets). */
  readonly requests: readonly { method: string; path: string }[]
  close(): Promise<void>
}

const IMDS_PATH = /^\/metadata\/identity\/oauth2\/token\/?$/i
const MAX_URL = 8 * 1024

/**
 * Starts a local Microsoft Entra ID + IMDS emulator on 127.0.0.1 (port 0 by default). It serves the
 * OpenID configuration documents and key sets per tenant and for common/organizations, a
 * client-credentials token endpoint, the IMDS managed-identity endpoint and the App Service endpoint.
 *
 * @example
 * const emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read'] }] })
 * const token = emu.mintToken({ audience: 'api://stock-api', roles: ['Stocks.Read'] })
 */
export async function startEmulator(options: EmulatorOptions = {}): Promise<Emulator> {
  const config = resolveConfig(options)
  const keys: SigningKey[] = [createSigningKey()]
  const appKeys = new Map<string, SigningKey>()
  for (const app of config.apps) if (app.customSigningKey) appKeys.set(app.clientId, createSigningKey())
  const appServiceSecret = randomBytes(24).toString('base64url')
  const requests: { method: string; path: string }[] = []
  let fault: { times: number; status: number; retryAfter?: number | undefined } | undefined
  const tls = config.https ? createTlsCertificate() : undefined
  const defaultTenant = config.tenants[0] as Tenant

  const published = () => keys.filter((k) => k.retireAt > Date.now())
  const signingKey = () => keys[keys.length - 1] as SigningKey
  const lifetimeFor = (kind: 'mi' | 'other') => config.tokenLifetime ?? (kind === 'mi' ? 86_700 : 3_600)

  function findTenant(segment: string): Tenant | 'multi' | undefined {
    if (segment === 'common' || segment === 'organizations') return 'multi'
    return config.tenants.find(
      (t) => t.id === segment.toLowerCase() || t.domain.toLowerCase() === segment.toLowerCase(),
    )
  }

  /** The app a resource or scope names: exact App ID URI or client ID (the resource string is kept as sent). */
  function findApp(resource: string): App | undefined {
    const bare = resource.replace(/\/\.default$/, '')
    return config.apps.find(
      (a) =>
        a.appIdUri === bare ||
        a.clientId === bare.toLowerCase() ||
        (a.appIdUri !== undefined && `${a.appIdUri}/` === bare),
    )
  }

  function findIdentity(ref: string): Identity | undefined {
    const r = ref.toLowerCase()
    return config.identities.find(
      (m) => m.name === ref || m.clientId === r || m.objectId === r || m.resourceId.toLowerCase() === r,
    )
  }

  function keyFor(target: App | undefined): SigningKey {
    return (target !== undefined ? appKeys.get(target.clientId) : undefined) ?? signingKey()
  }

  function issue(subject: TokenSubject, target: App | undefined): string {
    const key = keyFor(target)
    return signJwt(claimsFor(subject, Date.now() / 1000), key, headerFor(subject.version, key))
  }

  function miToken(
    identity: Identity,
    target: App,
    resource: string,
  ): { token: string; exp: number; nbf: number } {
    const lifetime = lifetimeFor('mi')
    const token = issue(
      {
        tenant: identity.tenant,
        version: target.accessTokenAcceptedVersion,
        resource,
        targetClientId: target.clientId,
        kind: 'app',
        clientId: identity.clientId,
        clientAuth: '2',
        objectId: identity.objectId,
        roles: rolesOn(target, identity.appRoleAssignments),
        scopes: [],
        identity,
        lifetime,
      },
      target,
    )
    const now = Math.floor(Date.now() / 1000)
    return { token, exp: now + lifetime, nbf: now }
  }

  // ---- OpenID configuration and keys ---------------------------------------------------------------

  function openidConfiguration(
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

  function keySet(v2: boolean, appid: string | null): unknown {
    const appKey = appid === null ? undefined : appKeys.get(appid.toLowerCase())
    const list = appKey !== undefined ? [appKey] : published()
    // v2 key sets tie each key to an issuer; v1 sets carry none.
    return { keys: list.map((k) => (v2 ? { ...k.jwk, issuer: v2Issuer('{tenantid}') } : k.jwk)) }
  }

  // ---- Token endpoint (client credentials) --------------------------------------------------------

  async function tokenEndpoint(
    req: IncomingMessage,
    res: ServerResponse,
    tenant: Tenant | 'multi',
    v2: boolean,
  ): Promise<void> {
    if (tenant === 'multi') {
      sendJson(
        res,
        400,
        aadError(
          'invalid_request',
          700_016,
          'Client credentials need a tenant: use the tenant ID or domain instead of common/organizations.',
        ),
      )
      return
    }
    const text = await readBody(req)
    if (text === undefined) {
      sendJson(res, 413, aadError('invalid_request', 90_001, 'The request body is too large.'))
      return
    }
    const form = new URLSearchParams(text)
    let clientId = form.get('client_id')
    let secret = form.get('client_secret')
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '')
    if (basic?.[1] !== undefined) {
      const [id, s] = Buffer.from(basic[1], 'base64').toString('utf8').split(':')
      clientId ??= decodeURIComponent(id ?? '')
      secret ??= decodeURIComponent(s ?? '')
    }
    if (form.get('grant_type') !== 'client_credentials') {
      sendJson(
        res,
        400,
        aadError(
          'unsupported_grant_type',
          70_003,
          `The app requested an unsupported grant type '${form.get('grant_type') ?? ''}'; this emulator supports client_credentials.`,
        ),
      )
      return
    }
    const client = config.apps.find((a) => a.clientId === clientId?.toLowerCase())
    if (client === undefined) {
      sendJson(
        res,
        400,
        aadError(
          'unauthorized_client',
          700_016,
          `Application with identifier '${clientId ?? ''}' was not found in the directory '${tenant.domain}'.`,
        ),
      )
      return
    }
    if (secret === null || !client.secrets.includes(secret)) {
      sendJson(
        res,
        401,
        aadError(
          'invalid_client',
          7_000_215,
          'Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID.',
        ),
      )
      return
    }
    const requested = v2 ? form.get('scope') : form.get('resource')
    if (requested === null || (v2 && !requested.endsWith('/.default'))) {
      sendJson(
        res,
        400,
        aadError(
          'invalid_scope',
          1_002_012,
          v2
            ? 'The provided value for scope is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).'
            : "The request body must contain the 'resource' parameter.",
        ),
      )
      return
    }
    const resource = requested.replace(/\/\.default$/, '')
    const target = findApp(resource)
    if (target === undefined) {
      sendJson(
        res,
        400,
        aadError(
          'invalid_resource',
          500_011,
          `The resource principal named ${resource} was not found in the tenant named ${tenant.domain}.`,
        ),
      )
      return
    }
    const lifetime = lifetimeFor('other')
    const token = issue(
      {
        tenant,
        version: target.accessTokenAcceptedVersion,
        resource,
        targetClientId: target.clientId,
        kind: 'app',
        clientId: client.clientId,
        clientAuth: '1',
        objectId: servicePrincipalId(client),
        roles: rolesOn(target, client.appRoleAssignments),
        scopes: [],
        lifetime,
      },
      target,
    )
    const now = Math.floor(Date.now() / 1000)
    const body: Record<string, unknown> = {
      token_type: 'Bearer',
      expires_in: lifetime,
      ext_expires_in: lifetime,
      access_token: token,
    }
    if (!v2) Object.assign(body, { expires_on: String(now + lifetime), not_before: String(now), resource })
    sendJson(res, 200, body)
  }

  const spIds = new Map<string, string>()
  function servicePrincipalId(app: App): string {
    let id = spIds.get(app.clientId)
    if (id === undefined) {
      id = newObjectId()
      spIds.set(app.clientId, id)
    }
    return id
  }

  // ---- Managed identity endpoints ------------------------------------------------------------------

  function takeFault(res: ServerResponse): boolean {
    if (fault === undefined || fault.times <= 0) return false
    fault.times--
    const headers: Record<string, string> =
      fault.retryAfter === undefined ? {} : { 'retry-after': String(fault.retryAfter) }
    sendJson(
      res,
      fault.status,
      {
        error: fault.status === 429 ? 'too_many_requests' : 'server_error',
        error_description: `Injected fault: ${fault.status}`,
      },
      headers,
    )
    return true
  }

  function selectIdentity(
    params: Map<string, string>,
    selectors: readonly string[],
  ): Identity | { status: number; body: unknown } {
    const given = selectors.filter((s) => params.has(s))
    if (given.length > 1) {
      return {
        status: 400,
        body: {
          error: 'invalid_request',
          error_description: `Only one of ${selectors.join(', ')} may be specified`,
        },
      }
    }
    if (given.length === 1) {
      const value = params.get(given[0] as string) as string
      const found = findIdentity(value)
      return (
        found ?? { status: 400, body: { error: 'invalid_request', error_description: 'Identity not found' } }
      )
    }
    const system = config.identities.filter((m) => m.kind === 'system')
    if (system.length === 1) return system[0] as Identity
    const user = config.identities.filter((m) => m.kind === 'user')
    if (system.length === 0 && user.length === 1) return user[0] as Identity
    if (config.identities.length === 0)
      return { status: 400, body: { error: 'invalid_request', error_description: 'Identity not found' } }
    return {
      status: 400,
      body: {
        error: 'invalid_request',
        error_description:
          'Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request',
      },
    }
  }

  function imds(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== 'GET') {
      sendJson(
        res,
        405,
        { error: 'method_not_allowed', error_description: 'The request method is not allowed; use GET' },
        { allow: 'GET' },
      )
      return
    }
    if (req.headers.metadata !== 'true' || req.headers['x-forwarded-for'] !== undefined) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'Required metadata header not specified',
      })
      return
    }
    const { params, duplicates } = queryOf(url)
    if (duplicates.length > 0) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: `Duplicate query parameter: ${duplicates[0]}`,
      })
      return
    }
    const apiVersion = params.get('api-version')
    if (apiVersion === undefined) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: "Required query variable 'api-version' is missing",
      })
      return
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(apiVersion) || apiVersion < '2018-02-01') {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: `Invalid api-version '${apiVersion.slice(0, 40)}'; use 2018-02-01 or later`,
      })
      return
    }
    const resource = params.get('resource')
    if (resource === undefined || resource === '') {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: "Required query variable 'resource' is missing",
      })
      return
    }
    if (takeFault(res)) return
    const identity = selectIdentity(params, ['client_id', 'object_id', 'msi_res_id'])
    if (!('clientId' in identity)) {
      sendJson(res, identity.status, identity.body)
      return
    }
    const target = findApp(resource)
    if (target === undefined) {
      sendJson(
        res,
        400,
        aadError(
          'invalid_resource',
          500_011,
          `The resource principal named ${resource} was not found in the tenant named ${identity.tenant.domain}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
        ),
      )
      return
    }
    const { token, exp, nbf } = miToken(identity, target, resource)
    const lifetime = exp - nbf
    const body: Record<string, string> = {
      access_token: token,
      refresh_token: '',
      expires_in: String(lifetime),
      expires_on: String(exp),
      ext_expires_in: String(lifetime),
      not_before: String(nbf),
      // Echo byte for byte: msal caches under the resource it gets back.
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    }
    if (params.has('object_id')) body.object_id = params.get('object_id') as string
    if (params.has('msi_res_id')) body.msi_res_id = params.get('msi_res_id') as string
    sendJson(res, 200, body, { server: 'IMDS/150.870.65.1854' })
  }

  function appService(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'method_not_allowed', error_description: 'Use GET' }, { allow: 'GET' })
      return
    }
    if (req.headers['x-identity-header'] !== appServiceSecret) {
      sendJson(res, req.headers['x-identity-header'] === undefined ? 400 : 401, {
        statusCode: req.headers['x-identity-header'] === undefined ? 400 : 401,
        message:
          req.headers['x-identity-header'] === undefined
            ? 'X-IDENTITY-HEADER is missing'
            : 'X-IDENTITY-HEADER does not match IDENTITY_HEADER',
        error: 'invalid_request',
        error_description: 'The X-IDENTITY-HEADER header is missing or wrong',
      })
      return
    }
    const { params, duplicates } = queryOf(url)
    if (duplicates.length > 0 || params.get('api-version') !== '2019-08-01' || !params.get('resource')) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'api-version=2019-08-01 and one resource are required',
      })
      return
    }
    if (takeFault(res)) return
    const identity = selectIdentity(params, ['client_id', 'principal_id', 'object_id', 'mi_res_id'])
    if (!('clientId' in identity)) {
      sendJson(res, identity.status, identity.body)
      return
    }
    const resource = params.get('resource') as string
    const target = findApp(resource)
    if (target === undefined) {
      sendJson(
        res,
        400,
        aadError(
          'invalid_resource',
          500_011,
          `The resource principal named ${resource} was not found in the tenant named ${identity.tenant.domain}.`,
        ),
      )
      return
    }
    const { token, exp, nbf } = miToken(identity, target, resource)
    sendJson(res, 200, {
      access_token: token,
      expires_on: String(exp),
      not_before: String(nbf),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    })
  }

  // ---- Router --------------------------------------------------------------------------------------

  let base = ''
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if ((req.url ?? '').length > MAX_URL) {
      sendJson(res, 414, { error: 'invalid_request', error_description: 'URI too long' })
      return
    }
    let url: URL
    try {
      url = new URL(req.url ?? '/', base)
    } catch {
      sendJson(res, 400, { error: 'invalid_request', error_description: 'Malformed request URL' })
      return
    }
    requests.push({ method: req.method ?? '', path: url.pathname })
    // A long-running emulator (the CLI) keeps only the recent history.
    if (requests.length > 10_000) requests.splice(0, requests.length - 5_000)
    if (IMDS_PATH.test(url.pathname)) return imds(req, res, url)
    if (url.pathname === '/msi/token') return appService(req, res, url)
    const m =
      /^\/([^/]+)\/(?:(v2\.0\/)?\.well-known\/openid-configuration|discovery\/(v2\.0\/)?keys|oauth2\/(v2\.0\/)?token)$/.exec(
        url.pathname,
      )
    if (m === null) {
      sendJson(res, 404, {
        error: 'not_found',
        error_description: `No such endpoint: ${url.pathname.slice(0, 200)}`,
      })
      return
    }
    const segment = decodeURIComponent(m[1] as string)
    const tenant = findTenant(segment)
    if (tenant === undefined) {
      sendJson(
        res,
        400,
        aadError(
          'invalid_tenant',
          90_002,
          `Tenant '${segment.slice(0, 100)}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud.`,
        ),
      )
      return
    }
    if (url.pathname.endsWith('/token')) {
      if (req.method !== 'POST') {
        sendJson(res, 405, { error: 'invalid_request', error_description: 'Use POST' }, { allow: 'POST' })
        return
      }
      return tokenEndpoint(req, res, tenant, m[4] !== undefined)
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendJson(res, 405, { error: 'invalid_request', error_description: 'Use GET' }, { allow: 'GET' })
      return
    }
    if (url.pathname.endsWith('openid-configuration')) {
      sendJson(
        res,
        200,
        openidConfiguration(base, segment, tenant, m[2] !== undefined, url.searchParams.get('appid')),
      )
      return
    }
    sendJson(res, 200, keySet(m[3] !== undefined, url.searchParams.get('appid')))
  }

  const listener = (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent)
        sendJson(res, 500, {
          error: 'server_error',
          error_description: `Emulator error: ${(err as Error).message}`,
        })
      else res.destroy()
    })
  }
  const server: Server =
    tls === undefined
      ? createHttpServer(listener)
      : createHttpsServer({ cert: tls.cert, key: tls.key }, listener)
  server.listen(config.port, config.host)
  await once(server, 'listening')
  const { port } = server.address() as AddressInfo
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  base = `${tls === undefined ? 'http' : 'https'}://${host}:${port}`

  return {
    authority: base,
    tenantId: defaultTenant.id,
    imdsEndpoint: base,
    appServiceEndpoint: `${base}/msi/token`,
    appServiceSecret,
    caCertificate: tls?.cert,
    config,
    requests,
    mintToken(o = {}) {
      const tenant =
        o.tenant === undefined
          ? defaultTenant
          : ((findTenant(o.tenant) as Tenant | undefined) ?? { id: o.tenant.toLowerCase(), domain: o.tenant })
      const target = o.audience === undefined ? config.apps[0] : findApp(o.audience)
      const mi = o.managedIdentity === undefined ? undefined : findIdentity(o.managedIdentity)
      if (o.managedIdentity !== undefined && mi === undefined)
        throw new Error(`mintToken: no managed identity '${o.managedIdentity}'`)
      const kind = o.identity ?? (o.scopes !== undefined ? 'user' : 'app')
      const user: User | undefined =
        kind === 'user'
          ? (config.users[0] ?? {
              objectId: newObjectId(),
              name: 'Emulated User',
              username: `user@${tenant.domain}`,
              tenant,
            })
          : undefined
      const version =
        o.version ?? target?.accessTokenAcceptedVersion ?? config.apps[0]?.accessTokenAcceptedVersion ?? 1
      const audience = o.audience ?? target?.appIdUri ?? target?.clientId ?? 'api://unknown'
      const key = o.unpublishedKey === true ? createSigningKey() : keyFor(target)
      const claims = claimsFor(
        {
          tenant,
          version,
          resource: audience,
          targetClientId: target?.clientId ?? audience,
          kind,
          clientId:
            o.clientId ??
            mi?.clientId ??
            (kind === 'user' ? '04b07795-8ddb-461a-bbee-02f9e1bf7b46' : newObjectId()),
          clientAuth: mi !== undefined ? '2' : kind === 'user' ? '0' : '1',
          objectId: o.objectId ?? mi?.objectId ?? user?.objectId ?? newObjectId(),
          roles:
            o.roles ??
            (mi !== undefined && target !== undefined ? rolesOn(target, mi.appRoleAssignments) : []),
          scopes: o.scopes ?? [],
          identity: mi,
          user,
          lifetime: o.expiresIn ?? lifetimeFor(mi !== undefined ? 'mi' : 'other'),
          notBefore: o.notBefore === undefined ? undefined : Math.floor(Date.now() / 1000) + o.notBefore,
        },
        Date.now() / 1000,
      )
      if (o.expiresIn !== undefined && o.expiresIn < 0) {
        // An expired token was issued in the past: keep iat/nbf before exp.
        claims.iat = (claims.exp as number) - 3600
        claims.nbf = claims.iat
      }
      if (o.version === 2 && o.audience !== undefined && target !== undefined) claims.aud = o.audience
      Object.assign(claims, o.claims ?? {})
      return signJwt(claims, key, { ...headerFor(version, key), ...o.header })
    },
    rotateKeys() {
      const now = Date.now()
      for (const k of keys)
        if (k.retireAt === Number.POSITIVE_INFINITY) k.retireAt = now + config.keyGracePeriod
      const key = createSigningKey()
      keys.push(key)
      while (keys.length > 1 && (keys[0] as SigningKey).retireAt <= now) keys.shift()
      return key.kid
    },
    publishedKids: () => published().map((k) => k.kid),
    failNextTokenRequests(f) {
      fault = { ...f }
    },
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close').catch(() => {})
    },
  }
}
