import {
  AuthError,
  type AuthEvent,
  authenticate,
  authorizationOf,
  authorize,
  createPolicy,
  type Principal,
  type Validator,
} from '@entraguard/core'
import { describe, expect, expectTypeOf, it } from 'vitest'
import { principal } from './principals.js'

const code = (fn: () => unknown): string | undefined => {
  try {
    fn()
    return undefined
  } catch (err) {
    return err instanceof AuthError ? err.code : `not an AuthError: ${String(err)}`
  }
}

describe('authorizationOf: the request-shape rule of every adapter', () => {
  const forms = {
    'Node rawHeaders': (values: string[]) => ({ headers: values.flatMap((v) => ['Authorization', v]) }),
    'Fetch Headers': (values: string[]) => {
      const h = new Headers()
      for (const v of values) h.append('authorization', v)
      return { headers: h }
    },
    'header record': (values: string[]) => ({
      headers: { authorization: values.length === 1 ? values[0] : values },
    }),
  }

  describe.each(Object.entries(forms))('%s', (_name, make) => {
    it('returns the one header value', () => {
      expect(authorizationOf(make(['Bearer a.b.c']))).toBe('Bearer a.b.c')
    })
    it('returns undefined without a header', () => {
      expect(authorizationOf(make([]))).toBeUndefined()
    })
    it('refuses two headers as malformed_request', () => {
      expect(code(() => authorizationOf(make(['Bearer a.b.c', 'Bearer d.e.f'])))).toBe('malformed_request')
    })
    it('refuses a comma-joined value (what Fetch makes of two headers)', () => {
      expect(code(() => authorizationOf(make(['Bearer a.b.c, Bearer d.e.f'])))).toBe('malformed_request')
    })
    it('gives the same description whichever way two headers arrive', () => {
      const texts = [['Bearer a.b.c', 'Bearer d.e.f'], ['Bearer a.b.c, Bearer d.e.f']].map((values) => {
        try {
          authorizationOf(make(values))
        } catch (err) {
          return (err as AuthError).description
        }
      })
      expect(texts[0]).toBe('The request carries more than one Authorization header')
      expect(texts[1]).toBe(texts[0])
    })
  })

  it('matches the header name case-insensitively in raw headers, and counts only Authorization', () => {
    expect(
      authorizationOf({ headers: ['AUTHORIZATION', 'Bearer x.y.z', 'Authorizations', 'Bearer q'] }),
    ).toBe('Bearer x.y.z')
    expect(
      code(() => authorizationOf({ headers: ['authorization', 'Bearer a', 'AuThOrIzAtIoN', 'b'] })),
    ).toBe('malformed_request')
  })

  it('never uses a token from the query or body alone', () => {
    expect(authorizationOf({ headers: [], url: '/stocks?access_token=abc' })).toBeUndefined()
    expect(authorizationOf({ headers: [], body: { access_token: 'abc' } })).toBeUndefined()
  })

  it('refuses a token in the header and in the query, body or form body', () => {
    const headers = ['Authorization', 'Bearer a.b.c']
    expect(code(() => authorizationOf({ headers, url: '/s?x=1&access_token=abc' }))).toBe('malformed_request')
    expect(code(() => authorizationOf({ headers, url: 'https://api.contoso.com/s?access_token=' }))).toBe(
      'malformed_request',
    )
    expect(code(() => authorizationOf({ headers, body: { access_token: 'abc' } }))).toBe('malformed_request')
    expect(code(() => authorizationOf({ headers, body: new URLSearchParams('access_token=abc') }))).toBe(
      'malformed_request',
    )
  })

  it('does not mistake look-alikes for a token in the query or body', () => {
    const headers = ['Authorization', 'Bearer a.b.c']
    expect(authorizationOf({ headers, url: '/s?my_access_token=1&x=access_token' })).toBe('Bearer a.b.c')
    expect(authorizationOf({ headers, url: '/access_token?x=1' })).toBe('Bearer a.b.c')
    expect(authorizationOf({ headers, body: Object.create({ access_token: 'inherited' }) })).toBe(
      'Bearer a.b.c',
    )
    expect(authorizationOf({ headers, body: 'access_token=abc' })).toBe('Bearer a.b.c')
  })
})

describe('authenticate', () => {
  const p = principal()
  const seen: unknown[] = []
  const validator = {
    validate: (header: string | undefined) => {
      seen.push(header)
      if (header === undefined || header.startsWith('Basic'))
        return Promise.reject(new AuthError('missing_token', { description: 'No bearer token was sent' }))
      if (header === 'Bearer bad') return Promise.reject(new AuthError('expired', { description: 'expired' }))
      return Promise.resolve(p)
    },
    emit: () => {},
  } as unknown as Validator

  it('validates the one header and resolves to the principal', async () => {
    await expect(authenticate(validator, { headers: ['Authorization', 'Bearer ok'] })).resolves.toBe(p)
  })
  it('rejects (never throws synchronously) on a bad request shape', async () => {
    const result = authenticate(validator, { headers: ['Authorization', 'a', 'Authorization', 'b'] })
    await expect(result).rejects.toMatchObject({ code: 'malformed_request', status: 400 })
  })
  it('without optional, a missing token is missing_token', async () => {
    await expect(authenticate(validator, { headers: [] })).rejects.toMatchObject({ code: 'missing_token' })
  })
  it('with optional, a request without a bearer token resolves to undefined; a bad token is still refused', async () => {
    await expect(authenticate(validator, { headers: [] }, { optional: true })).resolves.toBeUndefined()
    await expect(
      authenticate(validator, { headers: ['Authorization', 'Basic dXNlcjpwYXNz'] }, { optional: true }),
    ).resolves.toBeUndefined()
    await expect(
      authenticate(validator, { headers: ['Authorization', 'Bearer bad'] }, { optional: true }),
    ).rejects.toMatchObject({ code: 'expired' })
    await expect(
      authenticate(
        validator,
        { headers: ['Authorization', 'Bearer ok'], url: '/?access_token=1' },
        { optional: true },
      ),
    ).rejects.toMatchObject({ code: 'malformed_request' })
  })
  it('is typed: Principal, or Principal | undefined with optional', () => {
    const strict = () => authenticate(validator, { headers: [] })
    const lenient = () => authenticate(validator, { headers: [] }, { optional: true })
    expectTypeOf(strict).returns.resolves.toEqualTypeOf<Principal>()
    expectTypeOf(lenient).returns.resolves.toEqualTypeOf<Principal | undefined>()
  })
})

describe('authorize: the one authorization step of every adapter', () => {
  const policy = createPolicy({
    roles: { Reader: { actions: ['stocks/read'] } },
    assignments: [{ role: 'Reader', appRole: 'Stocks.Read' }],
  })
  const reader = principal({ roles: ['Stocks.Read'] })
  const run = (who: Principal, access: Parameters<typeof authorize>[1]) => {
    const events: Omit<AuthEvent, 'at'>[] = []
    let error: AuthError | undefined
    try {
      authorize(who, access, { method: 'GET', route: '/stocks/:symbol' }, (e) => events.push(e))
    } catch (err) {
      error = err as AuthError
    }
    return { events, error }
  }

  it('takes no decision and emits nothing for a route that needs only a valid token', () => {
    expect(run(reader, {})).toEqual({ events: [], error: undefined })
    expect(run(reader, { requirement: { scopes: [], roles: [] } })).toEqual({ events: [], error: undefined })
  })
  it('allows a role it holds and reports access.allowed with the route', () => {
    const { events, error } = run(reader, { requirement: { roles: ['Stocks.Read'] } })
    expect(error).toBeUndefined()
    expect(events).toMatchObject([{ type: 'access.allowed', route: '/stocks/:symbol', method: 'GET' }])
  })
  it('denies a missing role with insufficient_scope naming it, and reports access.denied', () => {
    const { events, error } = run(reader, { requirement: { roles: ['Stocks.Write'] } })
    expect(error?.code).toBe('insufficient_scope')
    expect(error?.headers['WWW-Authenticate']).toContain('scope="Stocks.Write"')
    expect(events).toMatchObject([{ type: 'access.denied', code: 'insufficient_scope' }])
  })
  it('checks the policy after the requirement, with action and resource in the event', () => {
    const allowed = run(reader, {
      requirement: { roles: ['Stocks.Read'] },
      permission: { policy, action: 'stocks/read', resource: '/stocks/AAPL' },
    })
    expect(allowed.error).toBeUndefined()
    expect(allowed.events).toMatchObject([
      { type: 'access.allowed', action: 'stocks/read', resource: '/stocks/AAPL' },
    ])
    const denied = run(reader, { permission: { policy, action: 'stocks/delete', resource: '/stocks/AAPL' } })
    expect(denied.error?.code).toBe('forbidden')
    expect(denied.error?.headers['WWW-Authenticate']).toBeUndefined()
    expect(denied.events).toMatchObject([{ type: 'access.denied', action: 'stocks/delete' }])
  })
  it('never reaches the policy when the requirement already denies', () => {
    const { events, error } = run(principal(), {
      requirement: { roles: ['Stocks.Read'] },
      permission: { policy, action: 'stocks/read', resource: '/stocks/AAPL' },
    })
    expect(error?.code).toBe('insufficient_scope')
    expect(events).toHaveLength(1)
    expect(events[0]?.action).toBeUndefined()
  })
})

describe('authenticate reports a refused request shape like any refusal', () => {
  const events: Omit<AuthEvent, 'at'>[] = []
  const validator = {
    validate: () => Promise.reject(new Error('not reached')),
    emit: (e: Omit<AuthEvent, 'at'>) => events.push(e),
  } as unknown as Validator
  const twoHeaders = { headers: ['Authorization', 'Bearer a.b.c', 'Authorization', 'Bearer d.e.f'] }

  it('as token.rejected when enforcing, with the request context', async () => {
    events.length = 0
    await expect(
      authenticate(validator, twoHeaders, { context: { method: 'GET', route: '/stocks' } }),
    ).rejects.toMatchObject({ code: 'malformed_request' })
    expect(events).toMatchObject([
      { type: 'token.rejected', code: 'malformed_request', method: 'GET', route: '/stocks' },
    ])
  })

  it('as token.would_reject in report-only mode, resolving to no principal', async () => {
    events.length = 0
    await expect(authenticate(validator, twoHeaders, { reportOnly: true })).resolves.toBeUndefined()
    expect(events).toMatchObject([{ type: 'token.would_reject', code: 'malformed_request' }])
  })
})
