import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import {
  AuthError,
  type AuthErrorCode,
  authenticateRequest,
  createValidator,
  type Principal,
  toResponse,
  type Validator,
} from '@entraguard/core'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import {
  API_APP_ID_URI,
  API_CLIENT_ID,
  type LocalIssuer,
  MI_CLIENT_ID,
  startLocalIssuer,
} from './local-issuer.js'

let issuer: LocalIssuer
let validator: Validator
let token: string
beforeAll(async () => {
  issuer = await startLocalIssuer()
  validator = createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
  })
  token = await issuer.sign(issuer.claims(2))
})
afterAll(async () => {
  validator.close()
  await issuer.close()
})

const URL_ = 'https://api.contoso.com/stocks'

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'resolved',
    (e: unknown) => (e instanceof AuthError ? e.code : `not an AuthError: ${String(e)}`),
  )
}

describe('authenticateRequest', () => {
  it('returns the principal of a valid bearer token in a Fetch Request', async () => {
    const request = new Request(URL_, { headers: { authorization: `Bearer ${token}` } })
    const principal = await authenticateRequest(validator, request)
    expect(principal).toMatchObject({
      clientId: MI_CLIENT_ID,
      tenantId: issuer.tenantId,
      roles: ['Stocks.Read'],
    })
  })

  it('refuses repeated Authorization headers, which Fetch joins with ", " (400 malformed_request)', async () => {
    const headers = new Headers()
    headers.append('Authorization', `Bearer ${token}`)
    headers.append('Authorization', `Bearer ${token}`)
    expect(headers.get('authorization')).toContain(', ')
    expect(await codeOf(authenticateRequest(validator, new Request(URL_, { headers })))).toBe(
      'malformed_request',
    )
  })

  it('never uses a token in the query; one in the query and the header is a 400', async () => {
    const alone = new Request(`${URL_}?access_token=${token}`)
    expect(await codeOf(authenticateRequest(validator, alone))).toBe('missing_token')
    const both = new Request(`${URL_}?access_token=x`, { headers: { authorization: `Bearer ${token}` } })
    expect(await codeOf(authenticateRequest(validator, both))).toBe('malformed_request')
  })

  it('never reads the body', async () => {
    const request = new Request(URL_, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'access_token=x',
    })
    expect((await authenticateRequest(validator, request)).clientId).toBe(MI_CLIENT_ID)
    expect(request.bodyUsed).toBe(false)
  })

  it('optional admits a request without a bearer token, never a bad token', async () => {
    expect(await authenticateRequest(validator, new Request(URL_), { optional: true })).toBeUndefined()
    const basic = new Request(URL_, { headers: { authorization: 'Basic dTpw' } })
    expect(await authenticateRequest(validator, basic, { optional: true })).toBeUndefined()
    const bad = new Request(URL_, { headers: { authorization: 'Bearer not.a.jwt' } })
    expect(await codeOf(authenticateRequest(validator, bad, { optional: true }))).toBe('malformed_token')
    expect(await codeOf(authenticateRequest(validator, new Request(URL_)))).toBe('missing_token')
  })

  it('is typed: a Principal, or Principal | undefined with optional', () => {
    // Functions that are never called: only their types are checked.
    const strict = (r: Request) => authenticateRequest(validator, r)
    const optional = (r: Request) => authenticateRequest(validator, r, { optional: true })
    expectTypeOf(strict).returns.resolves.toEqualTypeOf<Principal>()
    expectTypeOf(optional).returns.resolves.toEqualTypeOf<Principal | undefined>()
  })
})

describe('toResponse', () => {
  const cases: [AuthErrorCode, number, string, string | null][] = [
    ['missing_token', 401, 'missing_token', 'Bearer'],
    ['malformed_request', 400, 'invalid_request', 'Bearer error="invalid_request", error_description="d"'],
    ['expired', 401, 'invalid_token', 'Bearer error="invalid_token", error_description="d"'],
    [
      'insufficient_scope',
      403,
      'insufficient_scope',
      'Bearer error="insufficient_scope", error_description="d"',
    ],
    ['forbidden', 403, 'forbidden', null],
    ['metadata_unavailable', 503, 'metadata_unavailable', null],
  ]

  it.each(cases)('%s → %i, error %s, challenge %s', async (code, status, error, challenge) => {
    const res = toResponse(new AuthError(code, { description: 'd', detail: 'operator detail' }))
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toBe('application/json; charset=utf-8')
    expect(res.headers.get('www-authenticate')).toBe(challenge)
    expect(res.headers.get('retry-after')).toBe(status === 503 ? '30' : null)
    // Exactly error and error_description: the operator's detail never reaches the client.
    expect(await res.text()).toBe(JSON.stringify({ error, error_description: 'd' }))
  })

  it('carries the scope= of an insufficient_scope challenge and the Retry-After of an outage', () => {
    const scoped = toResponse(
      new AuthError('insufficient_scope', { description: 'd', scope: 'Stocks.Write' }),
    )
    expect(scoped.headers.get('www-authenticate')).toBe(
      'Bearer error="insufficient_scope", error_description="d", scope="Stocks.Write"',
    )
    const outage = toResponse(new AuthError('metadata_unavailable', { description: 'd', retryAfter: 4.2 }))
    expect(outage.headers.get('retry-after')).toBe('5')
  })

  it('re-throws anything that is not an AuthError, as it is (a bug is a 500, never a 401)', () => {
    const bug = new TypeError('a bug')
    expect(() => toResponse(bug)).toThrow(bug)
    expect(() => toResponse('a string')).toThrow('a string')
  })

  it('renders what authenticateRequest rejects with', async () => {
    const err = await authenticateRequest(validator, new Request(URL_)).catch((e: unknown) => e)
    const res = toResponse(err)
    expect(res.status).toBe(401)
    expect(await res.json()).toEqual({
      error: 'missing_token',
      error_description: 'No bearer token was sent',
    })
  })
})

describe('importing @entraguard/core', () => {
  // Workers forbid timers and I/O at global scope, and a library must not keep a CLI alive: importing core (and
  // creating a validator at module scope, the usual pattern) must start no timer, fetch nothing, hold no handle.
  const probe = `
    const calls = []
    for (const name of ['setTimeout', 'setInterval', 'setImmediate', 'fetch']) {
      const original = globalThis[name]
      globalThis[name] = function (...args) { calls.push(name); return original.apply(this, args) }
    }
    const core = await import('@entraguard/core')
    core.createValidator({ tenant: '72f988bf-86f1-41af-91ab-2d7cd011db47', audience: 'api://x' })
    const handles = process.getActiveResourcesInfo().filter((r) => /Timeout|Immediate|TCP|GetAddrInfo|UDP/.test(r))
    console.log(JSON.stringify({ calls, handles }))
  `

  it('starts no timer, does no fetch and lets the process exit at once', async () => {
    const started = Date.now()
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', '--input-type=module', '-e', probe],
      { cwd: fileURLToPath(new URL('..', import.meta.url)), stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    const code = await new Promise<number | null>((resolve) => child.once('close', resolve))
    clearTimeout(killer)
    expect({ code, err }).toEqual({ code: 0, err: '' })
    expect(JSON.parse(out)).toEqual({ calls: [], handles: [] })
    expect(Date.now() - started).toBeLessThan(15_000)
  })
})
