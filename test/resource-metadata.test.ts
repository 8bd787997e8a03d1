import { type AuthEvent, createValidator, type Validator } from '@entraguard/core'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, type RunningApi, startApi } from './support/apps.js'
import { send } from './support/http.js'
import { API_CLIENT_ID, API_URI, startScenarioEmulator } from './support/scenario.js'

// RFC 9728 on every adapter: the same document bytes at the same paths, and every challenge pointing to it.
let emu: Emulator
beforeAll(async () => {
  emu = await startScenarioEmulator()
})
afterAll(async () => {
  await emu.close()
})

const RESOURCE = 'https://stocks.contoso.com/api'
const URL_ = 'https://stocks.contoso.com/.well-known/oauth-protected-resource/api'
const reader = () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI })
const trader = () => emu.mintToken({ managedIdentity: 'trader-vm', audience: API_URI })

describe.each(FRAMEWORKS)('%s serves protected-resource metadata', (framework) => {
  let api: RunningApi
  let validator: Validator
  beforeAll(async () => {
    validator = createValidator({
      tenant: emu.tenantId,
      audience: [API_URI, API_CLIENT_ID],
      authority: emu.authority,
      resourceMetadata: { resource: RESOURCE, scopes: ['Stocks.Read'], resourceName: 'Stock API' },
    })
    api = await startApi(framework, validator, [] as AuthEvent[])
  })
  afterAll(async () => {
    await api.close()
    validator.close()
  })

  it.each(['/.well-known/oauth-protected-resource/api', '/.well-known/oauth-protected-resource'])(
    'GET %s → the document, CORS *, no token needed',
    async (path) => {
      const reply = await send(api.base, path)
      expect(reply.status).toBe(200)
      expect(reply.headers['content-type']).toBe('application/json; charset=utf-8')
      expect(reply.headers['access-control-allow-origin']).toBe('*')
      expect(reply.body).toBe(
        JSON.stringify({
          resource: RESOURCE,
          authorization_servers: [`${emu.authority}/${emu.tenantId}/v2.0`],
          scopes_supported: [`${API_URI}/Stocks.Read`],
          bearer_methods_supported: ['header'],
          resource_name: 'Stock API',
        }),
      )
    },
  )

  it('answers a CORS preflight and refuses other methods with 405', async () => {
    const preflight = await send(api.base, '/.well-known/oauth-protected-resource', { method: 'OPTIONS' })
    expect(preflight.status).toBe(204)
    expect(preflight.headers['access-control-allow-origin']).toBe('*')
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, HEAD, OPTIONS')
    const post = await send(api.base, '/.well-known/oauth-protected-resource', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.allow).toBe('GET, HEAD, OPTIONS')
  })

  it('points a missing-token 401 at the document, with no error attribute', async () => {
    const reply = await send(api.base, '/stocks')
    expect(reply.status).toBe(401)
    expect(reply.headers['www-authenticate']).toBe(`Bearer resource_metadata="${URL_}"`)
  })

  it('points an invalid-token 401 at the document', async () => {
    const reply = await send(api.base, '/stocks', { headers: { authorization: 'Bearer not.a.jwt' } })
    expect(reply.status).toBe(401)
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer error="invalid_token", error_description="The token is malformed", resource_metadata="${URL_}"`,
    )
  })

  it('names the full scope a 403 needs, and points at the document', async () => {
    const reply = await send(api.base, '/stocks', {
      method: 'POST',
      headers: { authorization: `Bearer ${reader()}` },
    })
    expect(reply.status).toBe(403)
    expect(reply.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="${API_URI}/Stocks.Write", resource_metadata="${URL_}"`,
    )
    expect(reply.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'The token lacks the required role',
    })
  })

  it('sends no challenge with a policy denial, and lets a good token through', async () => {
    const denied = await send(api.base, '/portfolios/fabrikam/stocks/AAPL', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${trader()}` },
    })
    expect(denied.status).toBe(403)
    expect(denied.headers['www-authenticate']).toBeUndefined()
    const ok = await send(api.base, '/stocks', { headers: { authorization: `Bearer ${reader()}` } })
    expect(ok.status).toBe(200)
  })
})
