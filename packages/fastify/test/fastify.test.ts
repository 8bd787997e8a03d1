import { createPolicy, createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { entraAuth } from '@entraguard/fastify'
import Fastify, { type FastifyRequest } from 'fastify'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'

let emu: Emulator
let validator: Validator
beforeAll(async () => {
  emu = await startEmulator({
    apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'] }],
  })
  validator = createValidator({ tenant: emu.tenantId, audience: 'api://stock-api', authority: emu.authority })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

const bearer = (roles: string[]) => ({ authorization: `Bearer ${emu.mintToken({ roles })}` })

describe('types', () => {
  it('request.auth is a Principal or null', () => {
    expectTypeOf<FastifyRequest['auth']>().toEqualTypeOf<Principal | null>()
  })
})

describe('entraAuth plugin', () => {
  it('defaultRequirement applies to routes without config.auth; config.auth: false is public', async () => {
    const app = Fastify()
    await app.register(entraAuth, { validator, defaultRequirement: { roles: ['Stocks.Write'] } })
    app.get('/open', { config: { auth: false } }, async (req) => ({ auth: req.auth }))
    app.get('/default', async () => 'ok')
    app.get('/read', { config: { auth: { roles: ['Stocks.Read'] } } }, async () => 'ok')
    expect((await app.inject({ url: '/open' })).json()).toEqual({ auth: null })
    expect((await app.inject({ url: '/default', headers: bearer(['Stocks.Read']) })).statusCode).toBe(403)
    expect((await app.inject({ url: '/default', headers: bearer(['Stocks.Write']) })).statusCode).toBe(200)
    expect((await app.inject({ url: '/read', headers: bearer(['Stocks.Read']) })).statusCode).toBe(200)
    expect((await app.inject({ url: '/nowhere' })).statusCode).toBe(401)
    await app.close()
  })

  it('optional admits a missing token only', async () => {
    const app = Fastify()
    await app.register(entraAuth, { validator, optional: true })
    app.get('/', async (req) => ({ anonymous: req.auth === null }))
    expect((await app.inject({ url: '/' })).json()).toEqual({ anonymous: true })
    expect((await app.inject({ url: '/', headers: bearer(['Stocks.Read']) })).json()).toEqual({
      anonymous: false,
    })
    expect((await app.inject({ url: '/', headers: { authorization: 'Bearer a.b.c' } })).statusCode).toBe(401)
    await app.close()
  })

  it('refuses a wrong route requirement at registration, naming the route', async () => {
    const app = Fastify()
    await app.register(entraAuth, { validator })
    expect(() =>
      app.get('/x', { config: { auth: { roles: 'Stocks.Read' as never } } }, async () => 'x'),
    ).toThrow('GET /x')
    const other = Fastify()
    await other.register(entraAuth, { validator })
    expect(() =>
      other.get('/y', { config: { auth: { permission: 'stocks/read', resource: '/y' } } }, async () => 'y'),
    ).toThrow('no policy was given')
    expect(() =>
      other.get('/z', { config: { auth: { permission: 'stocks/read' } } }, async () => 'z'),
    ).toThrow('permission and resource go together')
    await app.close()
    await other.close()
  })

  it('a wrong plugin option fails ready() with the option name', async () => {
    const app = Fastify()
    app.register(entraAuth, { tenant: 'not a tenant', audience: 'x' })
    await expect(app.ready()).rejects.toThrow('options.tenant')
  })

  it('renders the same JSON body and headers as Express, with a fixed resource path', async () => {
    const app = Fastify()
    const policy = createPolicy({
      roles: { R: { actions: ['stocks/read'] } },
      assignments: [{ role: 'R', appRole: 'Stocks.Read', scope: '/stocks' }],
    })
    await app.register(entraAuth, { validator, policy })
    app.get(
      '/report',
      { config: { auth: { permission: 'stocks/read', resource: '/reports' } } },
      async () => 'ok',
    )
    const res = await app.inject({ url: '/report', headers: bearer(['Stocks.Read']) })
    expect(res.statusCode).toBe(403)
    expect(res.headers['www-authenticate']).toBeUndefined()
    expect(res.json()).toEqual({
      error: 'forbidden',
      error_description: 'You do not have permission to perform this action',
    })
    await app.close()
  })
})
