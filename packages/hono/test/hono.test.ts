import { request as httpRequest } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type AuthEvent,
  createPolicy,
  createValidator,
  type Principal,
  toResponse,
  type Validator,
} from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import {
  AuthError,
  entraAuth,
  isAuthError,
  requireAuth,
  requirePermission,
  requireRoles,
  requireScopes,
  resourceMetadataHandler,
} from '@entraguard/hono'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator({
    apps: [
      { appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'], scopes: ['Stocks.Read'] },
    ],
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

const bearer = (roles: string[] = ['Stocks.Read']) => ({
  authorization: `Bearer ${emu.mintToken({ audience: 'api://stock-api', roles })}`,
})

/** A refusal as every adapter renders it: status, JSON content type, exactly `error` and `error_description`. */
async function expectRefusal(res: Response, status: number, error: string): Promise<void> {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
  const body = (await res.json()) as Record<string, unknown>
  expect(Object.keys(body).sort()).toEqual(['error', 'error_description'])
  expect(body.error).toBe(error)
}

describe('entraAuth', () => {
  const app = new Hono()
  beforeAll(() => {
    app.use(entraAuth({ validator }))
    app.get('/whoami', (c) => c.json({ clientId: c.get('auth')?.clientId }))
  })

  it('sets c.get("auth") to the principal of a valid token', async () => {
    const res = await app.request('/whoami', { headers: bearer() })
    expect(res.status).toBe(200)
    const token = emu.mintToken({ audience: 'api://stock-api', roles: ['Stocks.Read'], clientId: 'caller-x' })
    const named = await app.request('/whoami', { headers: { authorization: `Bearer ${token}` } })
    expect(await named.json()).toEqual({ clientId: 'caller-x' })
  })

  it('refuses a missing token (401, bare challenge) and a bad one (401 invalid_token) like every adapter', async () => {
    const missing = await app.request('/whoami')
    expect(missing.headers.get('www-authenticate')).toBe('Bearer')
    await expectRefusal(missing, 401, 'missing_token')
    const bad = await app.request('/whoami', { headers: { authorization: 'Bearer not.a.jwt' } })
    expect(bad.headers.get('www-authenticate')).toBe(
      'Bearer error="invalid_token", error_description="The token is malformed"',
    )
    await expectRefusal(bad, 401, 'invalid_token')
  })

  it('refuses repeated Authorization headers (joined by Fetch) and a token in the query as well', async () => {
    const headers = new Headers()
    headers.append('authorization', bearer().authorization)
    headers.append('authorization', bearer().authorization)
    await expectRefusal(await app.request('/whoami', { headers }), 400, 'invalid_request')
    const both = await app.request('/whoami?access_token=x', { headers: bearer() })
    await expectRefusal(both, 400, 'invalid_request')
    await expectRefusal(await app.request('/whoami?access_token=x'), 401, 'missing_token')
  })

  it('optional: true admits a missing token (or another scheme) but still refuses a bad one', async () => {
    const open = new Hono()
    open.use(entraAuth({ validator, optional: true }))
    open.get('/', (c) => c.json({ anonymous: c.get('auth') === undefined }))
    open.get('/guarded', requireAuth(), (c) => c.json({ clientId: c.get('auth').clientId }))
    expect(await (await open.request('/')).json()).toEqual({ anonymous: true })
    expect(await (await open.request('/', { headers: { authorization: 'Basic dTpw' } })).json()).toEqual({
      anonymous: true,
    })
    expect(await (await open.request('/', { headers: bearer() })).json()).toEqual({ anonymous: false })
    const bad = await open.request('/', { headers: { authorization: 'Bearer not.a.jwt' } })
    await expectRefusal(bad, 401, 'invalid_token')
    await expectRefusal(await open.request('/guarded'), 401, 'missing_token')
  })

  it("lets the app's own onError see the AuthError, as the HTTPException's cause", async () => {
    const seen: unknown[] = []
    const custom = new Hono()
    custom.use(entraAuth({ validator }))
    custom.get('/', (c) => c.text('ok'))
    custom.onError((err, c) => {
      seen.push(err)
      if (err instanceof HTTPException && isAuthError(err.cause)) return err.getResponse()
      return c.text('boom', 500)
    })
    await expectRefusal(await custom.request('/'), 401, 'missing_token')
    expect(seen[0]).toBeInstanceOf(HTTPException)
    expect((seen[0] as HTTPException).cause).toMatchObject({ code: 'missing_token', status: 401 })
  })

  it("answers each refusal byte for byte as core's toResponse(err) of the AuthError behind it", async () => {
    const causes: unknown[] = []
    const probe = new Hono()
    probe.use(entraAuth({ validator }))
    probe.get('/', requireRoles('Stocks.Write'), (c) => c.text('ok'))
    probe.onError((err) => {
      causes.push(err.cause)
      return (err as HTTPException).getResponse()
    })
    const twice = new Headers([
      ['authorization', 'Bearer a.b.c'],
      ['authorization', 'Bearer d.e.f'],
    ])
    const requests: RequestInit[] = [
      {},
      { headers: { authorization: 'Bearer not.a.jwt' } },
      { headers: twice },
      { headers: bearer(['Stocks.Read']) },
    ]
    for (const init of requests) {
      const res = await probe.request('/', init)
      const expected = toResponse(causes.at(-1))
      expect(res.status).toBe(expected.status)
      expect([...res.headers]).toEqual([...expected.headers])
      expect(await res.text()).toBe(await expected.text())
    }
    expect(causes.map((c) => (c as AuthError).code)).toEqual([
      'missing_token',
      'malformed_token',
      'malformed_request',
      'insufficient_scope',
    ])
  })

  it('re-throws an error that is not an AuthError (a bug is a 500, never a 401)', async () => {
    const broken = {
      validate: () => Promise.reject(new TypeError('a bug')),
      emit: () => {},
    } as unknown as Validator
    const seen: unknown[] = []
    const app2 = new Hono()
    app2.use(entraAuth({ validator: broken }))
    app2.get('/', (c) => c.text('ok'))
    app2.onError((err, c) => {
      seen.push(err)
      return c.text('internal', 500)
    })
    expect((await app2.request('/', { headers: bearer() })).status).toBe(500)
    expect(seen[0]).toBeInstanceOf(TypeError)
  })

  it('answers 503 with Retry-After and no challenge while the issuer is down', async () => {
    const down = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 500 },
    })
    try {
      const app3 = new Hono()
      app3.use(entraAuth({ validator: down }))
      app3.get('/', (c) => c.text('ok'))
      const res = await app3.request('/', { headers: bearer() })
      expect(res.status).toBe(503)
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(res.headers.has('www-authenticate')).toBe(false)
      expect(((await res.json()) as { error: string }).error).toBe('metadata_unavailable')
    } finally {
      down.close()
    }
  })
})

describe('guards', () => {
  const policy = createPolicy({
    roles: { Deleter: { actions: ['stocks/delete'] } },
    assignments: [{ role: 'Deleter', appRole: 'Stocks.Write', scope: '/portfolios/contoso' }],
  })
  const api = new Hono()
  api.get('/stocks', requireRoles('Stocks.Read'), (c) => c.json({ caller: c.get('auth').clientId }))
  api.get('/me', requireScopes('Stocks.Read'), (c) => c.json({ name: c.get('auth').name }))
  api.delete(
    '/portfolios/:name/stocks/:symbol',
    requirePermission(policy, 'stocks/delete', (c) => `/portfolios/${c.req.param('name')}`),
    (c) => c.body(null, 204),
  )
  const app = new Hono()
  beforeAll(() => {
    app.use(entraAuth({ validator }))
    app.route('/api', api)
  })

  it('checks roles and scopes: 403 insufficient_scope with the scope= of the route', async () => {
    expect((await app.request('/api/stocks', { headers: bearer() })).status).toBe(200)
    const denied = await app.request('/api/stocks', { headers: bearer(['Other']) })
    expect(denied.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="Stocks.Read"',
    )
    await expectRefusal(denied, 403, 'insufficient_scope')
    const user = emu.mintToken({ audience: 'api://stock-api', identity: 'user', scopes: ['Stocks.Read'] })
    expect((await app.request('/api/me', { headers: { authorization: `Bearer ${user}` } })).status).toBe(200)
    expect((await app.request('/api/me', { headers: bearer() })).status).toBe(403)
  })

  it('checks a permission on a resource from the route params: 403 forbidden, no challenge', async () => {
    const ok = await app.request('/api/portfolios/contoso/stocks/AAPL', {
      method: 'DELETE',
      headers: bearer(['Stocks.Write']),
    })
    expect(ok.status).toBe(204)
    const denied = await app.request('/api/portfolios/fabrikam/stocks/AAPL', {
      method: 'DELETE',
      headers: bearer(['Stocks.Write']),
    })
    expect(denied.headers.has('www-authenticate')).toBe(false)
    await expectRefusal(denied, 403, 'forbidden')
  })

  it('reports the route pattern (with the sub-app prefix) in access events, never the path or token', async () => {
    const headers = bearer(['Stocks.Write'])
    events.length = 0
    await app.request('/api/portfolios/contoso/stocks/MSFT', { method: 'DELETE', headers })
    expect(events.find((e) => e.type === 'access.allowed')).toMatchObject({
      method: 'DELETE',
      route: '/api/portfolios/:name/stocks/:symbol',
      action: 'stocks/delete',
      resource: '/portfolios/contoso',
    })
    expect(JSON.stringify(events)).not.toContain(headers.authorization.slice(7))
  })

  it('fails loudly (500, not a refusal) when a guard runs without entraAuth before it', async () => {
    const seen: unknown[] = []
    const bare = new Hono()
    bare.get('/', requireRoles('Stocks.Read'), (c) => c.text('ok'))
    bare.onError((err, c) => {
      seen.push(err)
      return c.text('internal', 500)
    })
    expect((await bare.request('/', { headers: bearer() })).status).toBe(500)
    expect(String(seen[0])).toContain('requireRoles() runs before entraAuth()')
  })
})

describe('protected-resource metadata (RFC 9728)', () => {
  it('resourceMetadataHandler serves the document when entraAuth is mounted on a sub-path', async () => {
    const withMetadata = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
      resourceMetadata: { resource: 'https://stocks.contoso.com/api', scopes: ['Stocks.Read'] },
    })
    try {
      const app = new Hono()
      app.use(resourceMetadataHandler(withMetadata))
      app.use('/api/*', entraAuth({ validator: withMetadata }))
      app.get('/api/stocks', requireRoles('Stocks.Read'), (c) => c.text('ok'))
      const doc = await app.request('/.well-known/oauth-protected-resource/api')
      expect(doc.status).toBe(200)
      expect(doc.headers.get('access-control-allow-origin')).toBe('*')
      expect(await doc.json()).toMatchObject({
        resource: 'https://stocks.contoso.com/api',
        scopes_supported: ['api://stock-api/Stocks.Read'],
      })
      expect((await app.request('/.well-known/oauth-protected-resource', { method: 'OPTIONS' })).status).toBe(
        204,
      )
      const challenge = (await app.request('/api/stocks')).headers.get('www-authenticate')
      expect(challenge).toBe(
        'Bearer resource_metadata="https://stocks.contoso.com/.well-known/oauth-protected-resource/api"',
      )
    } finally {
      withMetadata.close()
    }
  })

  it('resourceMetadataHandler refuses a validator without the resourceMetadata option', () => {
    expect(() => resourceMetadataHandler(validator)).toThrow('resourceMetadata option')
  })
})

describe('over real HTTP with @hono/node-server', () => {
  /** Sends one GET to a loopback server; an array becomes repeated Authorization header lines. */
  function send(base: string, authorization: string | string[]): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = httpRequest(
        `${base}/`,
        { headers: { authorization } as Record<string, string | string[]>, timeout: 5_000 },
        (res) => {
          let body = ''
          res.on('data', (c: Buffer) => {
            body += c.toString()
          })
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }))
        },
      )
      req.on('timeout', () => req.destroy(new Error('timed out')))
      req.on('error', reject)
      req.end()
    })
  }

  it('sees a second Authorization header (node-server builds Headers from rawHeaders): 400', async () => {
    const app = new Hono()
    app.use(entraAuth({ validator }))
    app.get('/', (c) => c.text('ok'))
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    try {
      const token = bearer().authorization
      expect((await send(base, token)).status).toBe(200)
      const two = await send(base, [token, 'Bearer a.b.c'])
      expect(two.status).toBe(400)
      expect(JSON.parse(two.body).error).toBe('invalid_request')
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  })
})

describe('types', () => {
  it('c.get("auth") is a Principal after a guard, Principal | undefined elsewhere', () => {
    const app = new Hono()
    app.get('/', requireRoles('Stocks.Read'), (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal>()
      expectTypeOf(c.var.auth).toEqualTypeOf<Principal>()
      return c.text('ok')
    })
    app.get('/open', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal | undefined>()
      return c.text('ok')
    })
    const chained = new Hono().use(entraAuth({ validator })).get('/', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal>()
      return c.text('ok')
    })
    const optional = new Hono().use(entraAuth({ validator, optional: true })).get('/', (c) => {
      expectTypeOf(c.get('auth')).toEqualTypeOf<Principal | undefined>()
      return c.text('ok')
    })
    expect([chained, optional].every((a) => a instanceof Hono)).toBe(true)
  })

  it('requirePermission gives the resource callback the route params', () => {
    const app = new Hono()
    app.delete(
      '/stocks/:symbol',
      requirePermission(createPolicy({ roles: {}, assignments: [] }), 'stocks/delete', (c) => {
        expectTypeOf(c.get('auth')).toEqualTypeOf<Principal>()
        return `/stocks/${c.req.param('symbol')}`
      }),
      (c) => c.body(null, 204),
    )
    expect(app.routes.length).toBe(2)
  })

  it('entraAuth needs tenant and audience, or a validator', () => {
    // @ts-expect-error tenant and audience are required
    expect(() => entraAuth({})).toThrow('options.tenant')
    expectTypeOf(entraAuth).toBeCallableWith({ validator })
    expectTypeOf(entraAuth).toBeCallableWith({ tenant: 'contoso.onmicrosoft.com', audience: 'api://x' })
  })
})
