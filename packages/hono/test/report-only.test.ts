import {
  type AuthEvent,
  ConfigurationError,
  createValidator,
  type Principal,
  type Validator,
} from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { entraAuth, reportOnly, requireRoles } from '@entraguard/hono'
import { Hono } from 'hono'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'

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
const types = () => events.filter((e) => !e.type.startsWith('keys.')).map((e) => e.type)

describe('reportOnly', () => {
  it('reportOnly(guard) reports under an enforcing entraAuth(), and types auth as optional', async () => {
    const app = new Hono()
    app.use(entraAuth({ validator }))
    app.post('/stocks', reportOnly(requireRoles('Stocks.Write')), (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal | undefined>()
      return c.json({ caller: c.get('auth')?.clientId ?? null }, 201)
    })
    events.length = 0
    const reply = await app.request('/stocks', { method: 'POST', headers: reader() })
    expect(reply.status).toBe(201)
    expect(((await reply.json()) as { caller: unknown }).caller).not.toBeNull()
    expect(types()).toEqual(['token.validated', 'access.would_deny'])
    expect(events.at(-1)).toMatchObject({ code: 'insufficient_scope', route: '/stocks', method: 'POST' })
    expect((await app.request('/stocks', { method: 'POST' })).status).toBe(401)
  })

  it('reportOnly(guard, false) enforces under a report-only entraAuth() with the token refusal itself', async () => {
    const app = new Hono()
    app.use(entraAuth({ validator, reportOnly: true }))
    app.post('/stocks', reportOnly(requireRoles('Stocks.Write'), false), (c) => c.json({}, 201))
    app.post('/reported', requireRoles('Stocks.Write'), (c) =>
      c.json({ caller: c.get('auth')?.clientId ?? null }, 201),
    )
    const bad = await app.request('/stocks', { method: 'POST', headers: { authorization: 'Bearer x.y.z' } })
    expect(bad.status).toBe(401)
    expect(bad.headers.get('www-authenticate')).toContain('invalid_token')
    expect((await app.request('/stocks', { method: 'POST', headers: reader() })).status).toBe(403)
    events.length = 0
    const passed = await app.request('/reported', {
      method: 'POST',
      headers: { authorization: 'Bearer x.y.z' },
    })
    expect(passed.status).toBe(201)
    expect(await passed.json()).toEqual({ caller: null })
    expect(types()).toEqual(['token.would_reject'])
  })

  it('takes only entraguard guards', () => {
    expect(() => reportOnly(async (_c, next) => next())).toThrow(ConfigurationError)
  })
})
