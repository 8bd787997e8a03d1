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
import { ADMIN_PATH, type AdminOperations, adminEndpoint } from './admin.js'
import { type ClusterIssuer, createClusterIssuer, type ServiceAccountTokenOptions } from './clusters.js'
import {
  type App,
  type AppOptions,
  type EmulatorConfig,
  type EmulatorOptions,
  type Identity,
  type IdentityOptions,
  resolveConfig,
  type Tenant,
  type User,
} from './config.js'
import { type AppRoleAssignment, createDirectory } from './directory.js'
import { aadError, sendJson } from './http.js'
import { createSigningKey, createTlsCertificate } from './keys.js'
import { createManagedIdentityEndpoints } from './managed-identity.js'
import { keySet, openidConfiguration } from './openid.js'
import { tokenEndpoint } from './token-endpoint.js'
import { claimsFor, headerFor, newObjectId, rolesOn, signJwt } from './tokens.js'

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
  /**
   * The same endpoints over plain http. Equals `authority` unless `https: true`; then it is a second
   * loopback listener, where `imdsEndpoint` and `appServiceEndpoint` live (they are plain http on Azure
   * too), for clients and validators that cannot be given the emulator's certificate.
   */
  readonly httpAuthority: string
  /** The admin endpoint's URL (`<httpAuthority>/_emulator`), for `entraguard-emulator assign --emulator`. */
  readonly adminEndpoint: string
  /** A cluster's service-account token issuer URL (OpenID discovery and keys served by the emulator). */
  clusterIssuer(cluster: string): string
  /** Signs a Kubernetes service-account token as the cluster's kubelet projects it (and writes it to `file`). */
  mintServiceAccountToken(options: ServiceAccountTokenOptions): string
  /** Gives a managed identity or client app an app role now; tokens issued from now on carry it. */
  assignAppRole(assignment: AppRoleAssignment): void
  /** Takes an app role away now; tokens issued earlier keep it until they expire. */
  removeAppRoleAssignment(assignment: AppRoleAssignment): void
  /** Empties IMDS's token cache (or one identity's part of it), as restarting the identity would. */
  clearTokenCache(identity?: string): void
  /** Adds a managed identity to the running directory; validated like the configuration. */
  addIdentity(options: IdentityOptions): Identity
  /** Removes a managed identity: IMDS answers "Identity not found" for it from now on. */
  removeIdentity(ref: string): Identity
  /** Adds an app registration to the running directory; validated like the configuration. */
  addApp(options: AppOptions): App
  /** Removes an app registration and every assignment of its roles. */
  removeApp(ref: string): App
  close(): Promise<void>
}

const IMDS_PATH = /^\/metadata\/identity\/oauth2\/token\/?$/i
// Microsoft's own samples write /MSI/token and `${IDENTITY_ENDPOINT}/?resource=…`.
const APP_SERVICE_PATH = /^\/msi\/token\/?$/i
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
  const dir = createDirectory(config)
  const appServiceSecret = randomBytes(24).toString('base64url')
  const managedIdentity = createManagedIdentityEndpoints(dir, appServiceSecret)
  const requests: { method: string; path: string }[] = []
  const tls = config.https ? createTlsCertificate() : undefined
  const defaultTenant = config.tenants[0] as Tenant
  const { findTenant, findApp, findIdentity, keyFor, lifetimeFor } = dir
  const clusters = new Map<string, ClusterIssuer>()
  let admin: AdminOperations | undefined

  // ---- Router --------------------------------------------------------------------------------------

  async function handle(req: IncomingMessage, res: ServerResponse, base: string): Promise<void> {
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
    if (IMDS_PATH.test(url.pathname)) return managedIdentity.imds(req, res, url)
    if (APP_SERVICE_PATH.test(url.pathname)) return managedIdentity.appService(req, res, url)
    if (url.pathname.startsWith(`${ADMIN_PATH}/`) && admin !== undefined)
      return adminEndpoint(admin, req, res, url)
    const k = /^\/clusters\/([a-z0-9-]+)\/(\.well-known\/openid-configuration|openid\/v1\/jwks)$/.exec(
      url.pathname,
    )
    const cluster = k === null ? undefined : clusters.get(k[1] as string)
    if (k !== null && cluster !== undefined && (req.method === 'GET' || req.method === 'HEAD')) {
      sendJson(res, 200, k[2] === 'openid/v1/jwks' ? cluster.keySet() : cluster.discovery())
      return
    }
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
      return tokenEndpoint(dir, clusters, req, res, tenant, m[4] !== undefined)
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
    sendJson(res, 200, keySet(dir, m[3] !== undefined, url.searchParams.get('appid')))
  }

  const listenerFor = (base: () => string) => (req: IncomingMessage, res: ServerResponse) => {
    handle(req, res, base()).catch((err: unknown) => {
      if (!res.headersSent)
        sendJson(res, 500, {
          error: 'server_error',
          error_description: `Emulator error: ${(err as Error).message}`,
        })
      else res.destroy()
    })
  }
  const host = config.host.includes(':') ? `[${config.host}]` : config.host
  async function listen(server: Server, port: number): Promise<number> {
    server.listen(port, config.host)
    await once(server, 'listening')
    return (server.address() as AddressInfo).port
  }
  let base = ''
  let plainBase = ''
  const server: Server =
    tls === undefined
      ? createHttpServer(listenerFor(() => base))
      : createHttpsServer(
          { cert: tls.cert, key: tls.key },
          listenerFor(() => base),
        )
  base = `${tls === undefined ? 'http' : 'https'}://${host}:${await listen(server, config.port)}`
  // With TLS, IMDS and App Service stay plain http, as on Azure, on a second loopback port.
  const plain: Server | undefined =
    tls === undefined ? undefined : createHttpServer(listenerFor(() => plainBase))
  plainBase = plain === undefined ? base : `http://${host}:${await listen(plain, 0)}`
  for (const c of config.clusters) clusters.set(c.name, createClusterIssuer(c, base))

  const issuerOf = (name: string | undefined, what: string): ClusterIssuer => {
    const found =
      name === undefined ? (clusters.size === 1 ? [...clusters.values()][0] : undefined) : clusters.get(name)
    if (found === undefined)
      throw new Error(
        name === undefined
          ? `${what}: name the cluster (configured: ${[...clusters.keys()].join(', ') || 'none'})`
          : `${what}: no cluster '${name}' (configured: ${[...clusters.keys()].join(', ') || 'none'})`,
      )
    return found
  }
  const clearTokenCache = (ref?: string) => {
    if (ref === undefined) return managedIdentity.clearCache()
    const identity = findIdentity(ref)
    if (identity === undefined) throw new Error(`clearTokenCache: no managed identity '${ref}'`)
    managedIdentity.clearCache(identity)
  }
  const removeIdentity = (ref: string) => {
    const identity = dir.removeIdentity(ref)
    managedIdentity.clearCache(identity)
    return identity
  }
  admin = {
    assignAppRole: (a) => dir.assignAppRole(a),
    removeAppRoleAssignment: (a) => dir.removeAppRoleAssignment(a),
    clearTokenCache,
    addIdentity: (o) => dir.addIdentity(o),
    removeIdentity,
    addApp: (o) => dir.addApp(o),
    removeApp: (ref) => dir.removeApp(ref),
    rotateKeys: () => dir.rotate(),
    directory: () => ({
      tenants: config.tenants,
      apps: config.apps.map(({ secrets: _secrets, ...app }) => app),
      identities: config.identities,
      clusters: [...clusters.values()].map((c) => ({ name: c.name, issuer: c.issuer })),
    }),
  }

  return {
    authority: base,
    tenantId: defaultTenant.id,
    imdsEndpoint: plainBase,
    appServiceEndpoint: `${plainBase}/msi/token`,
    httpAuthority: plainBase,
    adminEndpoint: `${plainBase}${ADMIN_PATH}`,
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
    rotateKeys: () => dir.rotate(),
    publishedKids: () => dir.published().map((k) => k.kid),
    failNextTokenRequests: (f) => managedIdentity.failNext(f),
    clusterIssuer: (name) => issuerOf(name, 'clusterIssuer').issuer,
    mintServiceAccountToken: (o) => issuerOf(o.cluster, 'mintServiceAccountToken').mint(o),
    assignAppRole: (a) => dir.assignAppRole(a),
    removeAppRoleAssignment: (a) => dir.removeAppRoleAssignment(a),
    clearTokenCache,
    addIdentity: (o) => dir.addIdentity(o),
    removeIdentity,
    addApp: (o) => dir.addApp(o),
    removeApp: (ref) => dir.removeApp(ref),
    async close() {
      await Promise.all(
        [server, plain].map(async (s) => {
          if (s === undefined) return
          s.closeAllConnections()
          s.close()
          await once(s, 'close').catch(() => {})
        }),
      )
    },
  }
}
