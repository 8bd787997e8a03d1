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
import { type EmulatorConfig, type EmulatorOptions, resolveConfig, type Tenant, type User } from './config.js'
import { createDirectory } from './directory.js'
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
  const dir = createDirectory(config)
  const appServiceSecret = randomBytes(24).toString('base64url')
  const managedIdentity = createManagedIdentityEndpoints(dir, appServiceSecret)
  const requests: { method: string; path: string }[] = []
  const tls = config.https ? createTlsCertificate() : undefined
  const defaultTenant = config.tenants[0] as Tenant
  const { findTenant, findApp, findIdentity, keyFor, lifetimeFor } = dir

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
    if (IMDS_PATH.test(url.pathname)) return managedIdentity.imds(req, res, url)
    if (url.pathname === '/msi/token') return managedIdentity.appService(req, res, url)
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
      return tokenEndpoint(dir, req, res, tenant, m[4] !== undefined)
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
    rotateKeys: () => dir.rotate(),
    publishedKids: () => dir.published().map((k) => k.kid),
    failNextTokenRequests: (f) => managedIdentity.failNext(f),
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close').catch(() => {})
    },
  }
}
