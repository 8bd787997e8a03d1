import type { IncomingMessage, ServerResponse } from 'node:http'
import type { ClusterIssuer } from './clusters.js'
import type { App, Identity, Tenant } from './config.js'
import type { Directory } from './directory.js'
import { checkAssertion, JWT_BEARER } from './federated.js'
import { aadError, readBody, sendJson, sendUnknownResource } from './http.js'
import { rolesOn } from './tokens.js'

/**
 * The client-credentials token endpoint (`/{tenant}/oauth2/v2.0/token` and the v1 `/oauth2/token`): a
 * client secret, or a federated client assertion (AKS workload identity) for an app or a user-assigned
 * managed identity with federated credentials.
 */
export async function tokenEndpoint(
  dir: Directory,
  clusters: ReadonlyMap<string, ClusterIssuer>,
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
  const id = clientId?.toLowerCase()
  const client: App | Identity | undefined =
    dir.config.apps.find((a) => a.clientId === id) ?? dir.config.identities.find((m) => m.clientId === id)
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
  const assertion = form.get('client_assertion')
  const federated = form.get('client_assertion_type') === JWT_BEARER && assertion !== null
  if (federated) {
    const refusal = checkAssertion(assertion, client.federatedCredentials, clusters)
    if (refusal !== undefined) {
      sendJson(res, refusal.status, refusal.body)
      return
    }
  } else if (secret === null && assertion === null) {
    sendJson(
      res,
      401,
      aadError(
        'invalid_client',
        7_000_218,
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
      ),
    )
    return
  } else if (!('secrets' in client) || secret === null || !client.secrets.includes(secret)) {
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
  const target = dir.findApp(resource)
  if (target === undefined) {
    sendUnknownResource(res, resource, tenant.domain)
    return
  }
  const lifetime = dir.lifetimeFor('other')
  const identity = 'objectId' in client ? client : undefined
  const token = dir.issue(
    {
      tenant,
      version: target.accessTokenAcceptedVersion,
      resource,
      targetClientId: target.clientId,
      kind: 'app',
      clientId: client.clientId,
      // A federated assertion authenticates like a certificate.
      clientAuth: federated ? '2' : '1',
      objectId: identity?.objectId ?? dir.servicePrincipalId(client as App),
      roles: rolesOn(target, client.appRoleAssignments),
      scopes: [],
      identity,
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
