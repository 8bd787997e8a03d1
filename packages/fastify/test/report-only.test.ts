import { type AuthEvent, createValidator, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { entraAuth } from '@entraguard/fastify'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator({
    apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'] }],
  })
  validator = createValidator({
    tenant: emu.tenantId,
    audience: 'api://stock-api',
    authority: emu.authority,
    onEvent: (e) => events.push(e),
  })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

const reader = () => ({ authorization: `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}` })
const reported = () => events.filter((e) => !e.type.startsWith('keys.')).map((e) => [e.type, e.code ?? null])

async function app(reportOnly: boolean) {
  const app = Fastify()
  await app.register(entraAuth, { validator, reportOnly })
  const handler = async (req: { auth: { clientId: string } | null }) => ({
    caller: req.auth?.clientId ?? null,
  })
  app.post('/default', { config: { auth: { roles: ['Stocks.Write'] } } }, handler)
  app.post('/reporting', { config: { auth: { roles: ['Stocks.Write'], reportOnly: true } } }, handler)
  app.post('/enforcing', { config: { auth: { roles: ['Stocks.Write'], reportOnly: false } } }, handler)
  return app
}

describe('reportOnly', () => {
  it('config.auth.reportOnly: true reports on one route of an enforcing plugin', async () => {
    const api = await app(false)
    try {
      events.length = 0
      const reply = await api.inject({ method: 'POST', url: '/reporting', headers: reader() })
      expect(reply.statusCode).toBe(200)
      expect(reply.json().caller).not.toBeNull()
      expect(reported()).toEqual([
        ['token.validated', null],
        ['access.would_deny', 'insufficient_scope'],
      ])
      events.length = 0
      const bad = await api.inject({
        method: 'POST',
        url: '/reporting',
        headers: { authorization: 'Bearer x.y.z' },
      })
      expect(bad.json()).toEqual({ caller: null })
      expect(reported()).toEqual([['token.would_reject', 'malformed_token']])
      expect(events[0]).toMatchObject({ method: 'POST', route: '/reporting' })
      expect((await api.inject({ method: 'POST', url: '/default', headers: reader() })).statusCode).toBe(403)
    } finally {
      await api.close()
    }
  })

  it('config.auth.reportOnly: false enforces one route of a report-only plugin', async () => {
    const api = await app(true)
    try {
      expect((await api.inject({ method: 'POST', url: '/default', headers: reader() })).statusCode).toBe(200)
      events.length = 0
      expect((await api.inject({ method: 'POST', url: '/enforcing', headers: reader() })).statusCode).toBe(
        403,
      )
      expect((await api.inject({ method: 'POST', url: '/enforcing' })).statusCode).toBe(401)
      expect(reported()).toEqual([
        ['token.validated', null],
        ['access.denied', 'insufficient_scope'],
        ['token.rejected', 'missing_token'],
      ])
    } finally {
      await api.close()
    }
  })

  it('refuses a reportOnly that is not a boolean when the route is added', async () => {
    const api = Fastify()
    await api.register(entraAuth, { validator })
    const bad = { auth: { reportOnly: 'yes' as unknown as boolean } }
    expect(() => api.get('/x', { config: bad }, async () => 'x')).toThrow(
      'invalid auth requirement on GET /x',
    )
    await api.close()
  })
})
