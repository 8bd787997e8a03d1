import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Identity } from './config.js'
import type { Directory } from './directory.js'
import { queryOf, sendJson, sendUnknownResource } from './http.js'

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
}

/** Creates the IMDS and App Service endpoints over a directory; `appServiceSecret` is IDENTITY_HEADER. */
export function createManagedIdentityEndpoints(
  dir: Directory,
  appServiceSecret: string,
): ManagedIdentityEndpoints {
  let fault: TokenFault | undefined

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
    const target = dir.findApp(resource)
    if (target === undefined) {
      sendUnknownResource(res, resource, identity.tenant.domain)
      return
    }
    const { token, exp, nbf } = dir.miToken(identity, target, resource)
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
    const target = dir.findApp(resource)
    if (target === undefined) {
      sendUnknownResource(res, resource, identity.tenant.domain)
      return
    }
    const { token, exp, nbf } = dir.miToken(identity, target, resource)
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
  }
}
