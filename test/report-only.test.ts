import { type AuthEvent, createValidator } from '@entraguard/core'
import type { Emulator, MintOptions } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, startApi, startScenarioApi } from './support/apps.js'
import { send } from './support/http.js'
import { API_CLIENT_ID, API_URI, READER_VM, startScenarioEmulator, TRADER_VM } from './support/scenario.js'

// Every refusal case of adapters.test.ts, run against the same scenario API in report-only mode: each must
// answer like the allowed path and leave exactly one would_* event with the code enforcement would have used.

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
  /** What the handler answers: the status of the allowed path. */
  status: number
  /** The event report-only leaves instead of the refusal, and its code. */
  would: { type: 'token.would_reject' | 'access.would_deny'; code: string }
}

const reader: MintOptions = { managedIdentity: 'reader-vm', audience: API_URI }
const trader: MintOptions = { managedIdentity: 'trader-vm', audience: API_URI }

const token = (code: string) => ({ type: 'token.would_reject', code }) as const
const access = (code: string) => ({ type: 'access.would_deny', code }) as const

const cases: Case[] = [
  { name: 'no token', path: '/stocks', auth: undefined, status: 200, would: token('missing_token') },
  {
    name: 'another scheme',
    path: '/stocks',
    auth: { header: 'Basic dXNlcjpwYXNz' },
    status: 200,
    would: token('missing_token'),
  },
  {
    name: 'Bearer without token',
    path: '/stocks',
    auth: { header: 'Bearer' },
    status: 200,
    would: token('malformed_request'),
  },
  { name: 'empty header', path: '/stocks', auth: { header: '' }, status: 200, would: token('missing_token') },
  {
    name: 'two tokens in one header',
    path: '/stocks',
    auth: { header: 'Bearer a.b.c Bearer d.e.f' },
    status: 200,
    would: token('malformed_request'),
  },
  {
    name: 'two Authorization headers',
    path: '/stocks',
    auth: { header: ['Bearer a.b.c', 'Bearer d.e.f'] },
    status: 200,
    would: token('malformed_request'),
  },
  {
    name: 'non-ASCII token',
    path: '/stocks',
    auth: { header: 'Bearer abc\u00e9' },
    status: 200,
    would: token('malformed_request'),
  },
  {
    name: 'huge garbage token',
    path: '/stocks',
    auth: { header: `Bearer ${'a'.repeat(12_000)}` },
    status: 200,
    would: token('malformed_token'),
  },
  {
    name: 'garbage token',
    path: '/stocks',
    auth: { header: 'Bearer not.a.jwt' },
    status: 200,
    would: token('malformed_token'),
  },
  {
    name: 'reader VM cannot write',
    method: 'POST',
    path: '/stocks',
    auth: { mint: reader },
    status: 201,
    would: access('insufficient_scope'),
  },
  {
    name: 'unassigned VM',
    path: '/whoami',
    auth: { mint: { managedIdentity: 'idle-vm', audience: API_URI } },
    status: 200,
    would: token('no_scope_or_role'),
  },
  {
    name: 'expired token',
    path: '/stocks',
    auth: { mint: { ...reader, expiresIn: -600 } },
    status: 200,
    would: token('expired'),
  },
  {
    name: 'wrong audience',
    path: '/stocks',
    auth: { mint: { ...reader, audience: 'api://other' } },
    status: 200,
    would: token('invalid_audience'),
  },
  {
    name: 'other tenant',
    path: '/stocks',
    auth: { mint: { ...reader, tenant: '11111111-2222-4333-8444-555555555555' } },
    status: 200,
    would: token('invalid_issuer'),
  },
  {
    name: 'unpublished key',
    path: '/stocks',
    auth: { mint: { ...reader, unpublishedKey: true } },
    status: 200,
    would: token('unknown_key'),
  },
  {
    name: 'app token on a scope route',
    path: '/me',
    auth: { mint: reader },
    status: 200,
    would: access('insufficient_scope'),
  },
  {
    name: 'permission excluded by notActions',
    method: 'DELETE',
    path: '/portfolios/fabrikam/stocks/AAPL',
    auth: { mint: trader },
    status: 204,
    would: access('forbidden'),
  },
  {
    name: 'permission with a traversal attempt',
    method: 'DELETE',
    path: '/portfolios/contoso/stocks/..%2F..%2Fx',
    auth: { mint: trader },
    status: 204,
    would: access('forbidden'),
  },
  {
    name: 'token in the query and the header',
    path: '/stocks?access_token=abc',
    auth: { mint: reader },
    status: 200,
    would: token('malformed_request'),
  },
  {
    name: 'token in the query only',
    path: '/stocks?access_token=abc',
    auth: undefined,
    status: 200,
    would: token('missing_token'),
  },
]

const allowed: { name: string; method?: string; path: string; auth: MintOptions; status: number }[] = [
  { name: 'reader VM reads', path: '/stocks', auth: reader, status: 200 },
  { name: 'trader VM writes', method: 'POST', path: '/stocks', auth: trader, status: 201 },
  {
    name: 'permission granted',
    method: 'DELETE',
    path: '/portfolios/contoso/stocks/AAPL',
    auth: trader,
    status: 204,
  },
]

function headersFor(auth: Auth): Record<string, string | string[]> {
  if (auth === undefined) return {}
  if ('mint' in auth) return { authorization: `Bearer ${emu.mintToken(auth.mint)}` }
  return { authorization: auth.header }
}

const REFUSALS = new Set(['token.rejected', 'access.denied'])
const REPORTS = new Set(['token.would_reject', 'access.would_deny'])

describe.each(FRAMEWORKS)('%s adapter in report-only mode', (framework) => {
  let api: Awaited<ReturnType<typeof startScenarioApi>>
  let events: AuthEvent[]
  beforeAll(async () => {
    api = await startScenarioApi(framework, emu, [API_URI, API_CLIENT_ID], { reportOnly: true })
    events = api.events
  })
  afterAll(async () => {
    await api.close()
  })

  it.each(cases)('$name → $status with $would.type $would.code', async (c) => {
    events.length = 0
    const method = c.method ?? 'GET'
    const reply = await send(api.base, c.path, { method, headers: headersFor(c.auth) })
    expect(reply.status).toBe(c.status)
    expect(reply.headers['www-authenticate']).toBeUndefined()
    expect(events.filter((e) => REFUSALS.has(e.type))).toEqual([])
    const reports = events.filter((e) => REPORTS.has(e.type))
    expect(reports).toHaveLength(1)
    expect(reports[0]).toMatchObject({ ...c.would, method })
    const body = reply.status === 204 ? undefined : reply.json()
    if (c.would.type === 'token.would_reject') {
      // A refused token never becomes a principal: the handler ran without one.
      expect(body).toBeDefined()
      expect(body?.caller).toBeUndefined()
      expect(events.some((e) => e.type === 'token.validated')).toBe(false)
    } else {
      // Only the requirement failed: the caller is known to the handler and to the report.
      const caller =
        c.auth !== undefined && 'mint' in c.auth && c.auth.mint === trader ? TRADER_VM : READER_VM
      expect(reports[0]?.clientId).toBe(caller)
      expect(reports[0]?.route).toBeDefined()
      // GET and POST /stocks answer with the caller: the handler saw the principal.
      if (c.path === '/stocks') expect(body?.caller).toBe(caller)
    }
  })

  it.each(allowed)('$name → $status, reported as allowed, nothing would be refused', async (c) => {
    events.length = 0
    const method = c.method ?? 'GET'
    const reply = await send(api.base, c.path, { method, headers: headersFor({ mint: c.auth }) })
    expect(reply.status).toBe(c.status)
    expect(events.filter((e) => REPORTS.has(e.type) || REFUSALS.has(e.type))).toEqual([])
    expect(events.some((e) => e.type === 'token.validated')).toBe(true)
  })

  it('never puts the token into a report', async () => {
    events.length = 0
    const expired = emu.mintToken({ ...reader, expiresIn: -600 })
    await send(api.base, '/stocks', { headers: { authorization: `Bearer ${expired}` } })
    expect(events.some((e) => e.type === 'token.would_reject')).toBe(true)
    expect(JSON.stringify(events)).not.toContain(expired)
  })
})

describe.each(FRAMEWORKS)('%s adapter in report-only mode with the issuer down', (framework) => {
  it('runs the handler without a principal and reports metadata_unavailable', async () => {
    const events: AuthEvent[] = []
    const validator = createValidator({
      tenant: emu.tenantId,
      audience: API_URI,
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 500 },
      onEvent: (e) => events.push(e),
    })
    const api = await startApi(framework, validator, events, { reportOnly: true })
    try {
      const reply = await send(api.base, '/stocks', {
        headers: { authorization: `Bearer ${emu.mintToken(reader)}` },
      })
      expect(reply.status).toBe(200)
      expect(reply.json().caller).toBeUndefined()
      expect(events.filter((e) => e.type === 'token.would_reject').map((e) => e.code)).toEqual([
        'metadata_unavailable',
      ])
      expect(events.some((e) => e.type === 'token.rejected')).toBe(false)
    } finally {
      await api.close()
      validator.close()
    }
  })
})

describe.each(FRAMEWORKS)('%s adapter with a report-only validator', (framework) => {
  it('takes its default mode from the validator, and an explicit reportOnly: false enforces', async () => {
    const events: AuthEvent[] = []
    const validator = createValidator({
      tenant: emu.tenantId,
      audience: [API_URI, API_CLIENT_ID],
      authority: emu.authority,
      reportOnly: true,
      onEvent: (e) => events.push(e),
    })
    const reporting = await startApi(framework, validator, events)
    const enforcing = await startApi(framework, validator, events, { reportOnly: false })
    try {
      const write = { method: 'POST', headers: { authorization: `Bearer ${emu.mintToken(reader)}` } }
      expect((await send(reporting.base, '/stocks', write)).status).toBe(201)
      expect(events.map((e) => e.type)).toContain('access.would_deny')
      events.length = 0
      expect((await send(enforcing.base, '/stocks', write)).status).toBe(403)
      expect(events.map((e) => e.type)).toContain('access.denied')
      expect(events.map((e) => e.type)).not.toContain('access.would_deny')
      events.length = 0
      const reply = await send(enforcing.base, '/stocks', { headers: { authorization: 'Bearer not.a.jwt' } })
      expect(reply.status).toBe(401)
      expect(events.map((e) => e.type)).toEqual(['token.rejected'])
    } finally {
      await Promise.all([reporting.close(), enforcing.close()])
      validator.close()
    }
  })
})
