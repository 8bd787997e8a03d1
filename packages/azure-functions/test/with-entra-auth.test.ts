import azf, { type HttpHandler, type HttpRequestInit, type HttpResponseInit } from '@azure/functions'
import { toHttpResponseInit, withEntraAuth } from '@entraguard/azure-functions'
import {
  AuthError,
  type AuthEvent,
  ConfigurationError,
  createPolicy,
  createValidator,
  type Principal,
  type Validator,
} from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, beforeEach, describe, expect, expectTypeOf, it } from 'vitest'

// @azure/functions is CommonJS and Node's ESM loader does not see these classes as named exports.
const { HttpRequest, HttpResponse, InvocationContext } = azf

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
let echo: HttpHandler
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
  echo = withEntraAuth({ validator }, (_request, _context, auth) => ({ jsonBody: { oid: auth.objectId } }))
})
afterAll(async () => {
  validator.close()
  await emu.close()
})
beforeEach(() => {
  events.length = 0
})

const reader = () => `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}`

function request(init: Partial<HttpRequestInit> = {}) {
  return new HttpRequest({ method: 'GET', url: 'http://127.0.0.1:7071/api/stocks', ...init })
}

/** The context the v4 library builds for a function registered with `app.http(name, { route, ... })`. */
function contextFor(functionName: string, route?: string) {
  const trigger = { type: 'httpTrigger', name: 'httpTrigger', authLevel: 'anonymous', methods: ['GET'] }
  return new InvocationContext({
    functionName,
    options: { trigger: route === undefined ? trigger : { ...trigger, route } },
  })
}

async function call(handler: HttpHandler, req = request(), context = contextFor('stocks')) {
  return (await handler(req, context)) as HttpResponseInit
}

describe('types', () => {
  it('the handler receives a Principal, or Principal | undefined with optional: true', () => {
    withEntraAuth({ validator }, (_request, _context, auth) => {
      expectTypeOf(auth).toEqualTypeOf<Principal>()
      return {}
    })
    withEntraAuth({ validator, optional: true }, (_request, _context, auth) => {
      expectTypeOf(auth).toEqualTypeOf<Principal | undefined>()
      return {}
    })
    const optional = process.env.ENTRAGUARD_NEVER_SET === undefined
    withEntraAuth({ validator, optional }, (_request, _context, auth) => {
      expectTypeOf(auth).toEqualTypeOf<Principal | undefined>()
      return {}
    })
    expectTypeOf(withEntraAuth({ validator }, () => ({}))).toEqualTypeOf<HttpHandler>()
  })

  it('needs tenant and audience, or a validator', () => {
    // @ts-expect-error tenant and audience are required
    expect(() => withEntraAuth({}, () => ({}))).toThrow('options.tenant')
    // @ts-expect-error a permission needs its policy, action and resource
    expect(() => withEntraAuth({ validator, permission: { action: 'stocks/delete' } }, () => ({}))).toThrow(
      ConfigurationError,
    )
    expectTypeOf(withEntraAuth).toBeCallableWith({ validator }, () => ({}))
  })

  it('refuses a handler that is not a function, naming the problem', () => {
    // @ts-expect-error the handler is required
    expect(() => withEntraAuth({ validator })).toThrow('handler function')
  })
})

describe('withEntraAuth with real HttpRequest and InvocationContext objects', () => {
  it('calls the handler with the principal of a valid token', async () => {
    const reply = await call(echo, request({ headers: { authorization: reader() } }))
    expect(reply.status).toBeUndefined()
    expect(reply.jsonBody).toEqual({ oid: expect.any(String) })
  })

  it('returns a 401 HttpResponseInit without a token, and never calls the handler', async () => {
    let called = false
    const handler = withEntraAuth({ validator }, () => {
      called = true
      return {}
    })
    const reply = await call(handler)
    expect(called).toBe(false)
    expect(reply).toEqual({
      status: 401,
      headers: { 'content-type': 'application/json; charset=utf-8', 'WWW-Authenticate': 'Bearer' },
      jsonBody: { error: 'missing_token', error_description: 'No bearer token was sent' },
    })
  })

  it('answers an invalid token with 401 invalid_token', async () => {
    const reply = await call(echo, request({ headers: { authorization: 'Bearer not.a.jwt' } }))
    expect(reply.status).toBe(401)
    expect((reply.headers as Record<string, string>)['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="The token is malformed"',
    )
    expect(reply.jsonBody).toEqual({ error: 'invalid_token', error_description: 'The token is malformed' })
  })

  it('the host renders the refusal through HttpResponse with our content type and body', async () => {
    const response = new HttpResponse(await call(echo))
    expect(response.status).toBe(401)
    expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(response.headers.get('www-authenticate')).toBe('Bearer')
    expect(JSON.parse(await response.text())).toEqual({
      error: 'missing_token',
      error_description: 'No bearer token was sent',
    })
  })

  it('refuses repeated Authorization headers, which Headers joins with ", "', async () => {
    const joined = `${reader()}, ${reader()}`
    const reply = await call(echo, request({ headers: { authorization: joined } }))
    expect(reply.status).toBe(400)
    expect(reply.jsonBody).toMatchObject({ error: 'invalid_request' })
  })

  it('refuses a token in the query and the header; ignores one in the query alone', async () => {
    const url = 'http://127.0.0.1:7071/api/stocks?access_token=abc'
    expect((await call(echo, request({ url, headers: { authorization: reader() } }))).status).toBe(400)
    expect((await call(echo, request({ url }))).status).toBe(401)
  })

  it('checks the requirement and reports the route template and method in the event', async () => {
    const write = withEntraAuth({ validator, requirement: { roles: ['Stocks.Write'] } }, () => ({
      status: 201,
    }))
    const reply = await call(
      write,
      request({ method: 'POST', headers: { authorization: reader() } }),
      contextFor('stocks-add', 'stocks'),
    )
    expect(reply.status).toBe(403)
    expect((reply.headers as Record<string, string>)['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="Stocks.Write"',
    )
    expect(events.find((e) => e.type === 'access.denied')).toMatchObject({
      method: 'POST',
      route: 'stocks',
      code: 'insufficient_scope',
    })
  })

  it('uses the function name as the route when none was registered (the host routes on it)', async () => {
    const read = withEntraAuth({ validator, requirement: { roles: ['Stocks.Read'] } }, () => ({}))
    await call(read, request({ headers: { authorization: reader() } }), contextFor('stocks-list'))
    expect(events.find((e) => e.type === 'access.allowed')).toMatchObject({ route: 'stocks-list' })
  })

  it('checks a policy permission on a resource built from request.params; a denial is 403 forbidden', async () => {
    const policy = createPolicy({
      roles: { Trader: { actions: ['stocks/*'] } },
      assignments: [{ role: 'Trader', appRole: 'Stocks.Write', scope: '/portfolios/contoso' }],
    })
    const remove = withEntraAuth(
      {
        validator,
        permission: {
          policy,
          action: 'stocks/delete',
          resource: (r) => `/portfolios/${r.params.name}/${r.params.symbol}`,
        },
      },
      () => ({ status: 204 }),
    )
    const route = 'portfolios/{name}/stocks/{symbol}'
    const trader = `Bearer ${emu.mintToken({ roles: ['Stocks.Write'] })}`
    const ok = await call(
      remove,
      request({
        method: 'DELETE',
        headers: { authorization: trader },
        params: { name: 'contoso', symbol: 'AAPL' },
      }),
      contextFor('remove', route),
    )
    expect(ok.status).toBe(204)
    expect(events.find((e) => e.type === 'access.allowed')).toMatchObject({
      route,
      action: 'stocks/delete',
      resource: '/portfolios/contoso/AAPL',
    })
    const denied = await call(
      remove,
      request({
        method: 'DELETE',
        headers: { authorization: trader },
        params: { name: 'fabrikam', symbol: 'AAPL' },
      }),
      contextFor('remove', route),
    )
    expect(denied.status).toBe(403)
    expect(denied.headers).not.toHaveProperty('WWW-Authenticate')
    expect(denied.jsonBody).toMatchObject({ error: 'forbidden' })
  })

  it('optional: true admits a missing token only', async () => {
    const maybe = withEntraAuth({ validator, optional: true }, (_r, _c, auth) => ({
      jsonBody: { anonymous: auth === undefined },
    }))
    expect((await call(maybe)).jsonBody).toEqual({ anonymous: true })
    expect((await call(maybe, request({ headers: { authorization: reader() } }))).jsonBody).toEqual({
      anonymous: false,
    })
    expect((await call(maybe, request({ headers: { authorization: 'Bearer not.a.jwt' } }))).status).toBe(401)
    const needsRole = withEntraAuth(
      { validator, optional: true, requirement: { roles: ['Stocks.Read'] } },
      () => ({}),
    )
    expect((await call(needsRole)).status).toBe(401)
  })

  it('never trusts X-MS-CLIENT-PRINCIPAL: a forged platform principal neither admits nor grants', async () => {
    const forged = Buffer.from(
      JSON.stringify({
        auth_typ: 'aad',
        name_typ: 'name',
        role_typ: 'roles',
        claims: [
          { typ: 'roles', val: 'Stocks.Write' },
          { typ: 'http://schemas.microsoft.com/identity/claims/objectidentifier', val: 'forged' },
        ],
      }),
    ).toString('base64')
    const platform = {
      'x-ms-client-principal': forged,
      'x-ms-client-principal-id': 'forged',
      'x-ms-client-principal-name': 'admin@contoso.com',
      'x-ms-client-principal-idp': 'aad',
    }
    const anonymous = request({ headers: platform })
    // the library decodes the headers with no verification
    expect(anonymous.user).toMatchObject({ type: 'AppService', username: 'admin@contoso.com' })
    expect((await call(echo, anonymous)).status).toBe(401)
    const write = withEntraAuth({ validator, requirement: { roles: ['Stocks.Write'] } }, () => ({
      status: 201,
    }))
    const reply = await call(
      write,
      request({ method: 'POST', headers: { ...platform, authorization: reader() } }),
    )
    expect(reply.status).toBe(403)
  })

  it('renders an AuthError thrown by the handler, and re-throws any other error', async () => {
    const refuses = withEntraAuth({ validator }, () => {
      throw new AuthError('forbidden', { description: 'Not your portfolio' })
    })
    expect(await call(refuses, request({ headers: { authorization: reader() } }))).toEqual({
      status: 403,
      headers: { 'content-type': 'application/json; charset=utf-8' },
      jsonBody: { error: 'forbidden', error_description: 'Not your portfolio' },
    })
    const bug = new TypeError('a bug')
    const broken = withEntraAuth({ validator }, () => {
      throw bug
    })
    await expect(call(broken, request({ headers: { authorization: reader() } }))).rejects.toBe(bug)
  })

  it('answers 503 with Retry-After and no challenge while the issuer is down', async () => {
    const down = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 500 },
    })
    try {
      const handler = withEntraAuth({ validator: down }, () => ({}))
      const reply = await call(handler, request({ headers: { authorization: reader() } }))
      expect(reply.status).toBe(503)
      const headers = reply.headers as Record<string, string>
      expect(Number(headers['Retry-After'])).toBeGreaterThanOrEqual(1)
      expect(headers).not.toHaveProperty('WWW-Authenticate')
      expect(reply.jsonBody).toMatchObject({ error: 'metadata_unavailable' })
    } finally {
      down.close()
    }
  })

  it('builds its own validator from validator options', async () => {
    const handler = withEntraAuth(
      { tenant: emu.tenantId, audience: 'api://stock-api', authority: emu.authority },
      (_r, _c, auth) => ({ jsonBody: { client: auth.clientId } }),
    )
    const reply = await call(handler, request({ headers: { authorization: reader() } }))
    expect(reply.jsonBody).toEqual({ client: expect.any(String) })
  })
})

describe('toHttpResponseInit', () => {
  it('re-throws what is not an AuthError', () => {
    const bug = new Error('boom')
    expect(() => toHttpResponseInit(bug)).toThrow(bug)
  })
})
