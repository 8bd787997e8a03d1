import { type AuthEvent, createValidator } from '@entraguard/core'
import type { Emulator, MintOptions } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, startApi, startScenarioApi } from './support/apps.js'
import { send } from './support/http.js'
import { API_CLIENT_ID, API_URI, READER_VM, startScenarioEmulator, TRADER_VM } from './support/scenario.js'

let emu: Emulator
beforeAll(async () => {
  emu = await startScenarioEmulator()
})
afterAll(async () => {
  await emu.close()
})

type Auth = { mint: MintOptions } | { header: string | string[] } | undefined

interface Case {
  name: string
  method?: string
  path: string
  auth: Auth
  status: number
  challenge?: string | null
  error?: string
}

const reader: MintOptions = { managedIdentity: 'reader-vm', audience: API_URI }
const trader: MintOptions = { managedIdentity: 'trader-vm', audience: API_URI }
const user: MintOptions = { audience: API_URI, identity: 'user', scopes: ['Stocks.Read'] }

const invalid = (description: string) => `Bearer error="invalid_token", error_description="${description}"`

const cases: Case[] = [
  { name: 'public route without a token', path: '/health', auth: undefined, status: 200, challenge: null },
  {
    name: 'no token',
    path: '/stocks',
    auth: undefined,
    status: 401,
    challenge: 'Bearer',
    error: 'missing_token',
  },
  {
    name: 'another scheme',
    path: '/stocks',
    auth: { header: 'Basic dXNlcjpwYXNz' },
    status: 401,
    challenge: 'Bearer',
  },
  {
    name: 'Bearer without token',
    path: '/stocks',
    auth: { header: 'Bearer' },
    status: 400,
    error: 'invalid_request',
  },
  { name: 'empty header', path: '/stocks', auth: { header: '' }, status: 401, challenge: 'Bearer' },
  {
    name: 'two tokens in one header',
    path: '/stocks',
    auth: { header: 'Bearer a.b.c Bearer d.e.f' },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'two Authorization headers',
    path: '/stocks',
    auth: { header: ['Bearer a.b.c', 'Bearer d.e.f'] },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'non-ASCII token',
    path: '/stocks',
    auth: { header: 'Bearer abc\u00e9' },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'huge garbage token',
    path: '/stocks',
    auth: { header: `Bearer ${'a'.repeat(12_000)}` },
    status: 401,
    error: 'invalid_token',
  },
  {
    name: 'garbage token',
    path: '/stocks',
    auth: { header: 'Bearer not.a.jwt' },
    status: 401,
    challenge: invalid('The token is malformed'),
  },
  { name: 'reader VM reads', path: '/stocks', auth: { mint: reader }, status: 200 },
  { name: 'lower-case scheme', path: '/stocks', auth: { header: 'MINT:bearer' }, status: 200 },
  {
    name: 'reader VM cannot write',
    method: 'POST',
    path: '/stocks',
    auth: { mint: reader },
    status: 403,
    challenge:
      'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="Stocks.Write"',
    error: 'insufficient_scope',
  },
  { name: 'trader VM writes', method: 'POST', path: '/stocks', auth: { mint: trader }, status: 201 },
  {
    name: 'unassigned VM',
    path: '/whoami',
    auth: { mint: { managedIdentity: 'idle-vm', audience: API_URI } },
    status: 403,
    error: 'insufficient_scope',
  },
  {
    name: 'expired token',
    path: '/stocks',
    auth: { mint: { ...reader, expiresIn: -600 } },
    status: 401,
    challenge: invalid('The token is expired'),
  },
  {
    name: 'wrong audience',
    path: '/stocks',
    auth: { mint: { ...reader, audience: 'api://other' } },
    status: 401,
    challenge: invalid('The token is not for this API (audience)'),
  },
  {
    name: 'other tenant',
    path: '/stocks',
    auth: { mint: { ...reader, tenant: '11111111-2222-4333-8444-555555555555' } },
    status: 401,
    error: 'invalid_token',
  },
  {
    name: 'unpublished key',
    path: '/stocks',
    auth: { mint: { ...reader, unpublishedKey: true } },
    status: 401,
    error: 'invalid_token',
  },
  { name: 'user with the scope', path: '/me', auth: { mint: user }, status: 200 },
  {
    name: 'app token on a scope route',
    path: '/me',
    auth: { mint: reader },
    status: 403,
    error: 'insufficient_scope',
  },
  { name: 'scope-or-role: user', path: '/quotes', auth: { mint: user }, status: 200 },
  { name: 'scope-or-role: app', path: '/quotes', auth: { mint: reader }, status: 200 },
  {
    name: 'permission granted by object-id assignment',
    method: 'DELETE',
    path: '/portfolios/contoso/stocks/AAPL',
    auth: { mint: trader },
    status: 204,
  },
  {
    name: 'permission excluded by notActions',
    method: 'DELETE',
    path: '/portfolios/fabrikam/stocks/AAPL',
    auth: { mint: trader },
    status: 403,
    challenge: null,
    error: 'forbidden',
  },
  {
    name: 'permission with a traversal attempt',
    method: 'DELETE',
    path: '/portfolios/contoso/stocks/..%2F..%2Fx',
    auth: { mint: trader },
    status: 403,
    error: 'forbidden',
  },
  {
    name: 'token in the query and the header',
    path: '/stocks?access_token=abc',
    auth: { mint: reader },
    status: 400,
    error: 'invalid_request',
  },
  {
    name: 'token in the query only',
    path: '/stocks?access_token=abc',
    auth: undefined,
    status: 401,
    challenge: 'Bearer',
  },
]

function headersFor(auth: Auth): Record<string, string | string[]> {
  if (auth === undefined) return {}
  if ('mint' in auth) return { authorization: `Bearer ${emu.mintToken(auth.mint)}` }
  if (auth.header === 'MINT:bearer') return { authorization: `bearer ${emu.mintToken(reader)}` }
  return { authorization: auth.header }
}

// Audit events carry the route pattern in the framework's own syntax (Azure Functions: the trigger's route).
const routes = (framework: string) =>
  framework === 'azure-functions'
    ? { stocks: 'stocks', delete: 'portfolios/{name}/stocks/{symbol}' }
    : { stocks: '/stocks', delete: '/portfolios/:name/stocks/:symbol' }

describe.each(FRAMEWORKS)('%s adapter', (framework) => {
  let api: Awaited<ReturnType<typeof startScenarioApi>>
  let events: AuthEvent[]
  beforeAll(async () => {
    api = await startScenarioApi(framework, emu, [API_URI, API_CLIENT_ID])
    events = api.events
  })
  afterAll(async () => {
    await api.close()
  })

  it.each(cases)('$name → $status', async (c) => {
    const reply = await send(api.base, c.path, { method: c.method ?? 'GET', headers: headersFor(c.auth) })
    expect(reply.status).toBe(c.status)
    if (c.challenge !== undefined) expect(reply.headers['www-authenticate'] ?? null).toBe(c.challenge)
    if (c.status >= 400) {
      const body = reply.json()
      expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
      if (c.error !== undefined && c.error !== 'invalid_token') expect(body.error).toBe(c.error)
      if (c.error === 'invalid_token')
        expect(reply.headers['www-authenticate']).toContain('error="invalid_token"')
    }
  })

  it('puts route and method into the audit events, never the token', async () => {
    const token = emu.mintToken(reader)
    events.length = 0
    await send(api.base, '/stocks', { method: 'POST', headers: { authorization: `Bearer ${token}` } })
    const denied = events.find((e) => e.type === 'access.denied')
    expect(denied).toMatchObject({
      route: routes(framework).stocks,
      method: 'POST',
      clientId: READER_VM,
      code: 'insufficient_scope',
    })
    events.length = 0
    await send(api.base, '/portfolios/contoso/stocks/MSFT', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${emu.mintToken(trader)}` },
    })
    expect(events.find((e) => e.type === 'access.allowed')).toMatchObject({
      route: routes(framework).delete,
      action: 'stocks/delete',
      resource: '/portfolios/contoso/MSFT',
      clientId: TRADER_VM,
    })
    expect(JSON.stringify(events)).not.toContain(token)
  })
})

describe.each(FRAMEWORKS)('%s adapter with the issuer down', (framework) => {
  it('answers 503 with Retry-After and no challenge', async () => {
    const validator = createValidator({
      tenant: emu.tenantId,
      audience: API_URI,
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 500 },
    })
    const api = await startApi(framework, validator, [])
    try {
      const reply = await send(api.base, '/stocks', {
        headers: { authorization: `Bearer ${emu.mintToken(reader)}` },
      })
      expect(reply.status).toBe(503)
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(reply.headers['www-authenticate']).toBeUndefined()
      expect(reply.json().error).toBe('metadata_unavailable')
    } finally {
      await api.close()
      validator.close()
    }
  })
})
