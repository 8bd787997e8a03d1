import type { IncomingMessage, ServerResponse } from 'node:http'
import type { App, Identity } from './config.js'
import type { Directory } from './directory.js'
import { queryOf, sendJson, sendUnknownResource } from './http.js'
import { createTokenCache, type IssuedToken } from './token-cache.js'

/** A fault to inject into the next managed-identity token requests. */
export interface TokenFault {
  times: number
  status: number
  retryAfter?: number | undefined
}

/** The managed-identity endpoints: IMDS (`/metadata/identity/oauth2/token`) and App Service (`/msi/token`). */
export interface ManagedIdentityEndpoints {
  imds(req: IncomingMessage, res: ServerResponse, url: URL): void
  appService(req: IncomingMessage, res: ServerResponse, url: URL): void
  failNext(fault: TokenFault): void
  /** Forgets cached tokens: all of them, or one identity's. */
  clearCache(identity?: Identity): void
}

/** Creates the IMDS and App Service endpoints over a directory; `appServiceSecret` is IDENTITY_HEADER. */
export function createManagedIdentityEndpoints(
  dir: Directory,
  appServiceSecret: string,
): ManagedIdentityEndpoints {
  let fault: TokenFault | undefined
  const cache = createTokenCache(dir.config.imdsTokenCache)
  // One back end serves IMDS and App Service on Azure: one cache, per identity and exact resource string.
  const cacheKey = (identity: Identity, resource: string) => `${identity.objectId}\n${resource}`
  const tokenFor = (identity: Identity, target: App, resource: string, bypass = false): IssuedToken =>
    cache.get(cacheKey(identity, resource), () => dir.miToken(identity, target, resource), bypass)

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
      const found = dir.findIdentity(value)
      return (
        found ?? { status: 400, body: { error: 'invalid_request', error_description: 'Identity not found' } }
      )
    }
    const system = dir.config.identities.filter((m) => m.kind === 'system')
    if (system.length === 1) return system[0] as Identity
    const user = dir.config.identities.filter((m) => m.kind === 'user')
    if (system.length === 0 && user.length === 1) return user[0] as Identity
    if (dir.config.identities.length === 0)
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
    if (!isDate(apiVersion, '2018-02-01')) {
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
    const target = dir.findApp(resource)
    if (target === undefined) {
      sendUnknownResource(res, resource, identity.tenant.domain)
      return
    }
    // bypass_cache=true is in the IMDS API (2023-07-01 and later): a token straight from Entra.
    const { token, exp, nbf } = tokenFor(identity, target, resource, params.get('bypass_cache') === 'true')
    // A cached token counts down: expires_in is what is left of it, as on Azure.
    const left = String(Math.max(0, exp - Math.floor(Date.now() / 1000)))
    const body: Record<string, string> = {
      access_token: token,
      refresh_token: '',
      expires_in: left,
      expires_on: String(exp),
      ext_expires_in: left,
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

  /**
   * App Service / Functions / Container Apps: `api-version=2019-08-01` (or later) with X-IDENTITY-HEADER,
   * or the older `2017-09-01` with the `secret` header (MSI_ENDPOINT / MSI_SECRET), whose only selector
   * is `clientid` and whose `expires_on` is a date-time string.
   */
  function appService(req: IncomingMessage, res: ServerResponse, url: URL): void {
    if (req.method !== 'GET') {
      sendJson(res, 405, { error: 'method_not_allowed', error_description: 'Use GET' }, { allow: 'GET' })
      return
    }
    const { params, duplicates } = queryOf(url)
    const apiVersion = params.get('api-version') ?? ''
    const legacy = apiVersion === '2017-09-01'
    if (duplicates.length > 0 || !params.get('resource') || !(legacy || isDate(apiVersion, '2019-08-01'))) {
      sendJson(res, 400, {
        error: 'invalid_request',
        error_description: 'api-version=2019-08-01 (or 2017-09-01) and one resource are required',
      })
      return
    }
    const headerName = legacy ? 'secret' : 'x-identity-header'
    const presented = req.headers[headerName]
    if (presented !== appServiceSecret) {
      const status = presented === undefined ? 400 : 401
      sendJson(res, status, {
        statusCode: status,
        message: `${legacy ? 'secret' : 'X-IDENTITY-HEADER'} is ${presented === undefined ? 'missing' : 'wrong'}`,
        error: 'invalid_request',
        error_description: `The ${legacy ? 'secret' : 'X-IDENTITY-HEADER'} header is missing or wrong`,
      })
      return
    }
    if (takeFault(res)) return
    const identity = selectIdentity(
      params,
      legacy ? ['clientid'] : ['client_id', 'principal_id', 'object_id', 'mi_res_id'],
    )
    if (!('clientId' in identity)) {
      sendJson(res, identity.status, identity.body)
      return
    }
    const resource = params.get('resource') as string
    const target = dir.findApp(resource)
    if (target === undefined) {
      sendUnknownResource(res, resource, identity.tenant.domain)
      return
    }
    const { token, exp, nbf } = tokenFor(identity, target, resource)
    if (legacy) {
      sendJson(res, 200, { access_token: token, expires_on: legacyDate(exp), resource, token_type: 'Bearer' })
      return
    }
    sendJson(res, 200, {
      access_token: token,
      expires_on: String(exp),
      not_before: String(nbf),
      resource,
      token_type: 'Bearer',
      client_id: identity.clientId,
    })
  }

  return {
    imds,
    appService,
    failNext(f) {
      fault = { ...f }
    },
    clearCache(identity) {
      cache.clear(identity === undefined ? undefined : `${identity.objectId}\n`)
    },
  }
}

/** An api-version date at or after `floor`. */
const isDate = (v: string, floor: string) => /^\d{4}-\d{2}-\d{2}$/.test(v) && v >= floor

/** The 2017-09-01 protocol's expires_on: `MM/DD/YYYY hh:mm:ss AM +00:00` (UTC). */
function legacyDate(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000)
  const two = (n: number) => String(n).padStart(2, '0')
  const h = d.getUTCHours()
  return `${two(d.getUTCMonth() + 1)}/${two(d.getUTCDate())}/${d.getUTCFullYear()} ${two(h % 12 || 12)}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${h < 12 ? 'AM' : 'PM'} +00:00`
}
