import type { AddressInfo } from 'node:net'
import { type AuthEvent, createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { authErrorHandler, entraAuth, requireRoles } from '@entraguard/express'
import express, { type Request } from 'express'
import express4 from 'express4'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read'] }] })
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

async function listen(
  app: ReturnType<typeof express>,
): Promise<{ base: string; close: () => Promise<void> }> {
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((r) => server.once('listening', () => r()))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => server.close(() => r())),
  }
}

describe('types', () => {
  it('req.auth is a Principal or undefined', () => {
    expectTypeOf<Request['auth']>().toEqualTypeOf<Principal | undefined>()
  })
  it('entraAuth needs tenant and audience, or a validator', () => {
    // @ts-expect-error tenant and audience are required
    expect(() => entraAuth({})).toThrow('options.tenant')
    expectTypeOf(entraAuth).toBeCallableWith({ validator })
  })
})

describe('entraAuth', () => {
  it('optional: true admits a missing token but still refuses a bad one', async () => {
    const app = express()
    app.use(entraAuth({ validator, optional: true }))
    app.get('/', (req, res) => {
      res.json({ anonymous: req.auth === undefined })
    })
    app.use(authErrorHandler())
    const { base, close } = await listen(app)
    try {
      expect(await (await fetch(`${base}/`)).json()).toEqual({ anonymous: true })
      const good = await fetch(`${base}/`, {
        headers: { authorization: `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}` },
      })
      expect(await good.json()).toEqual({ anonymous: false })
      const bad = await fetch(`${base}/`, {
        headers: { authorization: `Bearer ${emu.mintToken({ expiresIn: -600, roles: ['Stocks.Read'] })}` },
      })
      expect(bad.status).toBe(401)
    } finally {
      await close()
    }
  })

  it("Express's own error handler already answers with the status and WWW-Authenticate", async () => {
    const app = express()
    app.use(entraAuth({ validator }))
    app.get('/', (_req, res) => {
      res.send('ok')
    })
    const { base, close } = await listen(app)
    try {
      const res = await fetch(`${base}/`, { headers: { authorization: 'Bearer x.y.z' } })
      expect(res.status).toBe(401)
      expect(res.headers.get('www-authenticate')).toBe(
        'Bearer error="invalid_token", error_description="The token is malformed"',
      )
    } finally {
      await close()
    }
  })

  it('a guard without entraAuth is a programming error with a clear message', async () => {
    const app = express()
    let seen: unknown
    app.get('/', requireRoles('Stocks.Read'), (_req, res) => {
      res.send('never')
    })
    app.use((err: unknown, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      seen = err
      res.status(500).end()
    })
    const { base, close } = await listen(app)
    try {
      expect((await fetch(`${base}/`)).status).toBe(500)
      expect(String(seen)).toContain('requireRoles() runs before entraAuth()')
    } finally {
      await close()
    }
  })

  it('on Express 4, an issuer outage reaches the error handler and leaves no unhandled rejection', async () => {
    const rejections: unknown[] = []
    const onRejection = (r: unknown) => rejections.push(r)
    process.on('unhandledRejection', onRejection)
    const down = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 300 },
    })
    const app = express4()
    app.use(entraAuth({ validator: down }) as never)
    app.get('/', (_req: unknown, res: { send: (s: string) => void }) => res.send('never'))
    app.use(authErrorHandler() as never)
    const { base, close } = await listen(app as never)
    try {
      const res = await fetch(`${base}/`, {
        headers: { authorization: `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}` },
      })
      expect(res.status).toBe(503)
      expect(await res.json()).toEqual({
        error: 'metadata_unavailable',
        error_description: 'The identity provider is unavailable; try again later',
      })
      await new Promise((r) => setTimeout(r, 50))
      expect(rejections).toEqual([])
    } finally {
      process.off('unhandledRejection', onRejection)
      down.close()
      await close()
    }
  })
})

describe('entraAuth: the hot path (issue 9)', () => {
  // Express with no promise in between: once the keys are known, a token (new or reused) and a refusal are
  // passed to next() before the middleware returns.
  it('calls next() synchronously once the keys are known; asynchronously only while they are fetched', async () => {
    const fresh = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
    })
    try {
      const middleware = entraAuth({ validator: fresh })
      const call = (authorization: string) => {
        const req = {
          rawHeaders: ['Authorization', authorization],
          url: '/',
          method: 'GET',
        } as unknown as Request
        const seen: unknown[] = []
        const settled = new Promise<void>((resolve) => {
          middleware(req, {} as never, (err?: unknown) => {
            seen.push(err ?? req.auth)
            resolve()
          })
        })
        return { before: [...seen], settled, seen }
      }
      const first = call(`Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}`)
      expect(first.before).toEqual([])
      await first.settled
      expect((first.seen[0] as Principal).roles).toEqual(['Stocks.Read'])
      const token = emu.mintToken({ roles: ['Stocks.Read'] })
      for (let i = 0; i < 3; i++)
        expect((call(`Bearer ${token}`).before[0] as Principal).roles).toEqual(['Stocks.Read'])
      expect(call('Bearer x.y.z').before[0]).toMatchObject({ code: 'malformed_token', status: 401 })
    } finally {
      fresh.close()
    }
  })
})

describe('req.auth on a real Express request (issue 9: an accessor, not an added property)', () => {
  // What a handler can observe of req.auth, on Express 5 and 4, in the app and in a mounted sub-app.
  const observe = (req: Request) => ({
    oid: req.auth?.objectId,
    own: Object.hasOwn(req, 'auth'),
    in: 'auth' in req,
  })
  for (const [name, make] of [
    ['Express 5', () => express()],
    ['Express 4', () => express4() as unknown as ReturnType<typeof express>],
  ] as const) {
    it(`${name}: req.auth reads, reassigns and clears per request, also in a mounted sub-app`, async () => {
      const app = make()
      const sub = make()
      app.use(entraAuth({ validator, optional: true }))
      sub.get('/inner', requireRoles('Stocks.Read'), (req, res) => {
        res.json(observe(req))
      })
      app.use('/sub', sub)
      app.get('/outer', (req, res) => {
        const before = observe(req)
        const principal = req.auth
        req.auth = undefined
        const cleared = req.auth
        req.auth = principal
        res.json({ before, cleared: cleared === undefined, restored: req.auth?.objectId })
      })
      app.use(authErrorHandler())
      const { base, close } = await listen(app)
      try {
        const a = emu.mintToken({ roles: ['Stocks.Read'] })
        const b = emu.mintToken({ objectId: '0b0e1d5e-4c6f-4a8e-9c8a-2f7d5b1e9a01', roles: ['Stocks.Read'] })
        const oidOf = (t: string) =>
          JSON.parse(Buffer.from(t.split('.')[1] as string, 'base64url').toString()).oid
        const get = async (path: string, token?: string) =>
          (
            await fetch(`${base}${path}`, token ? { headers: { authorization: `Bearer ${token}` } } : {})
          ).json()
        for (let i = 0; i < 3; i++) {
          expect(await get('/outer', a)).toEqual({
            before: { oid: oidOf(a), own: false, in: true },
            cleared: true,
            restored: oidOf(a),
          })
          expect(await get('/sub/inner', b)).toEqual({ oid: oidOf(b), own: false, in: true })
          // An anonymous request sees no principal of an earlier one.
          expect(await get('/outer')).toEqual({ before: { own: false, in: true }, cleared: true })
        }
      } finally {
        await close()
      }
    })
  }
})
