import { generateKeyPairSync } from 'node:crypto'
import {
  AuthError,
  type AuthEvent,
  createValidator,
  type Validator,
  type ValidatorOptions,
} from '@entraguard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { API_APP_ID_URI, API_CLIENT_ID, type LocalIssuer, startLocalIssuer } from './local-issuer.js'

const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const fn of cleanup.splice(0)) await fn()
})

async function setup(
  extra: Partial<ValidatorOptions> = {},
): Promise<{ issuer: LocalIssuer; v: Validator; events: AuthEvent[] }> {
  const issuer = await startLocalIssuer()
  const events: AuthEvent[] = []
  const v = createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
    tokenVersions: [1],
    onEvent: (e) => events.push(e),
    ...extra,
  } as ValidatorOptions)
  cleanup.push(
    () => v.close(),
    () => issuer.close(),
  )
  return { issuer, v, events }
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof AuthError ? e.code : `not an AuthError: ${String(e)}`),
  )
}

describe('key store', () => {
  it('picks up a rotated key on an unknown kid, once the cooldown allows', async () => {
    const { issuer, v } = await setup({ jwks: { cooldown: 0 } })
    await v.validate(await issuer.sign(issuer.claims(1)))
    const kid = await issuer.rotate()
    await expect(v.validate(await issuer.sign(issuer.claims(1), { kid }))).resolves.toBeTruthy()
    expect(issuer.jwksRequests()).toBe(2)
  })

  it('a storm of random kids causes at most one fetch per cooldown', async () => {
    const { issuer, v } = await setup({ jwks: { cooldown: 60_000 } })
    await v.warm()
    const before = issuer.jwksRequests()
    const codes = await Promise.all(
      Array.from({ length: 50 }, async (_, i) =>
        codeOf(v.validate(await issuer.sign(issuer.claims(1), { kid: `random-${i}` }))),
      ),
    )
    expect(new Set(codes)).toEqual(new Set(['unknown_key']))
    expect(issuer.jwksRequests() - before).toBe(0) // the warm fetch is within the cooldown
    const kid = await issuer.rotate()
    // A genuinely new key within the cooldown is refused until the cooldown passes.
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(1), { kid })))).toBe('unknown_key')
  })

  it('concurrent cold requests share one metadata and one key-set fetch', async () => {
    const { issuer, v } = await setup()
    const token = await issuer.sign(issuer.claims(1))
    issuer.fault = { delayMs: 100 }
    const results = await Promise.all(Array.from({ length: 30 }, () => codeOf(v.validate(token))))
    expect(results.every((r) => r === 'ok')).toBe(true)
    expect(issuer.jwksRequests()).toBe(1)
    expect(issuer.requests.filter((r) => r.includes('openid-configuration'))).toHaveLength(1)
  })

  it('keeps serving the last good keys through an issuer outage', async () => {
    const { issuer, v, events } = await setup({ jwks: { cooldown: 0, refreshInterval: 100 } })
    const token = await issuer.sign(issuer.claims(1))
    await v.validate(token)
    issuer.fault = { status: 500, body: 'down' }
    await new Promise((r) => setTimeout(r, 300)) // background refreshes fail meanwhile
    expect(events.some((e) => e.type === 'keys.refresh_failed' && e.reason?.includes('last good keys'))).toBe(
      true,
    )
    const fresh = await issuer.sign(issuer.claims(1, { uti: 'another' }))
    await expect(v.validate(fresh)).resolves.toBeTruthy()
    // An unknown kid whose refresh fails is a 401, not a 503.
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(1), { kid: 'brand-new' })))).toBe(
      'unknown_key',
    )
  })

  it.each([
    ['a 500', { status: 500, body: 'oops' }],
    ['garbage', { status: 200, body: '<html>' }],
    ['an empty key set', { status: 200, body: '{"keys":[]}', match: /keys/ }],
    [
      'a key set with only unusable keys',
      {
        status: 200,
        body: JSON.stringify({
          keys: [
            { kty: 'EC', kid: 'e' },
            { kty: 'RSA', kid: 'enc', use: 'enc', n: 'AQAB', e: 'AQAB' },
          ],
        }),
        match: /keys/,
      },
    ],
    ['a redirect', { status: 302, body: '' }],
    [
      'a key set with only a 1024-bit key',
      {
        status: 200,
        body: JSON.stringify({
          keys: [
            {
              kid: 'small',
              use: 'sig',
              ...generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }),
            },
          ],
        }),
        match: /keys/,
      },
    ],
  ])('cold start against %s → metadata_unavailable with Retry-After', async (_name, fault) => {
    const { issuer, v, events } = await setup()
    issuer.fault = fault
    const err = await v.validate(await issuer.sign(issuer.claims(1))).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(AuthError)
    const e = err as AuthError
    expect(e.code).toBe('metadata_unavailable')
    expect(e.status).toBe(503)
    expect(Number(e.headers['Retry-After'])).toBeGreaterThanOrEqual(1)
    expect(e.headers['WWW-Authenticate']).toBeUndefined()
    expect(events.some((ev) => ev.type === 'keys.refresh_failed')).toBe(true)
  })

  it('times out a hanging issuer', async () => {
    const { issuer, v } = await setup({ jwks: { timeout: 200 } })
    issuer.fault = { hang: true }
    const started = Date.now()
    const e = (await v.validate(await issuer.sign(issuer.claims(1))).catch((x: unknown) => x)) as AuthError
    expect(e.code).toBe('metadata_unavailable')
    expect(e.detail).toContain('timed out after 200 ms')
    expect(Date.now() - started).toBeLessThan(5_000)
  })

  it('refuses a key set larger than maxBytes', async () => {
    const { issuer, v } = await setup({ jwks: { maxBytes: 2048 } })
    issuer.extraKeys = Array.from({ length: 50 }, (_, i) => ({
      kty: 'RSA',
      kid: `pad-${i}`,
      n: 'x'.repeat(100),
      e: 'AQAB',
    }))
    const e = (await v.validate(await issuer.sign(issuer.claims(1))).catch((x: unknown) => x)) as AuthError
    expect(e.code).toBe('metadata_unavailable')
    expect(e.detail).toContain('limit of 2048 bytes')
  })

  it('backs off after a cold failure and recovers when the issuer is back', async () => {
    const { issuer, v } = await setup({ jwks: { cooldown: 300 } })
    issuer.fault = { status: 503, body: '' }
    const token = await issuer.sign(issuer.claims(1))
    expect(await codeOf(v.validate(token))).toBe('metadata_unavailable')
    const attempts = issuer.requests.length
    expect(await codeOf(v.validate(token))).toBe('metadata_unavailable')
    expect(issuer.requests.length).toBe(attempts) // within the back-off, no new fetch
    issuer.fault = undefined
    await new Promise((r) => setTimeout(r, 350))
    expect(await codeOf(v.validate(token))).toBe('ok')
  })

  it('warm() prefetches, and keys.refreshed reports the key count', async () => {
    const { issuer, v, events } = await setup()
    await v.warm()
    expect(issuer.jwksRequests()).toBe(1)
    expect(events).toEqual([expect.objectContaining({ type: 'keys.refreshed', keyCount: 1 })])
  })
})

describe('validated-token cache', () => {
  it('answers a reused token without verifying again, until exp + tolerance', async () => {
    let clock = Date.now()
    const { issuer, v, events } = await setup({ now: () => clock, clockTolerance: 10 })
    const exp = Math.floor(clock / 1000) + 60
    const token = await issuer.sign(issuer.claims(1, { exp }))
    await v.validate(token)
    expect(v.stats.cachedTokens).toBe(0) // admitted on its second sighting
    await v.validate(token)
    await v.validate(token)
    expect(events.filter((e) => e.type === 'token.validated').map((e) => e.cached)).toEqual([
      false,
      false,
      true,
    ])
    expect(v.stats.cachedTokens).toBe(1)
    clock = (exp + 9) * 1000
    await expect(v.validate(token)).resolves.toBeTruthy()
    clock = (exp + 11) * 1000
    expect(await codeOf(v.validate(token))).toBe('expired')
    expect(v.stats.cachedTokens).toBe(0)
  })

  it('keeps a reused token cached through a flood of one-off tokens', async () => {
    const { issuer, v, events } = await setup({ cache: { maxEntries: 5 } })
    const reused = await issuer.sign(issuer.claims(1))
    await v.validate(reused)
    await v.validate(reused)
    for (let i = 0; i < 30; i++) await v.validate(await issuer.sign(issuer.claims(1, { uti: `flood${i}` })))
    events.length = 0
    await v.validate(reused)
    expect(events.find((e) => e.type === 'token.validated')?.cached).toBe(true)
  })

  it('is bounded by cache.maxEntries, and can be turned off', async () => {
    const { issuer, v } = await setup({ cache: { maxEntries: 3 } })
    const tokens = await Promise.all(
      Array.from({ length: 10 }, (_, i) => issuer.sign(issuer.claims(1, { uti: `u${i}` }))),
    )
    for (const t of tokens) await v.validate(t)
    expect(v.stats.cachedTokens).toBe(0) // one-off tokens are not cached
    for (const t of tokens) await v.validate(t)
    expect(v.stats.cachedTokens).toBe(3)
    const off = createValidator({
      tenant: issuer.tenantId,
      audience: API_APP_ID_URI,
      authority: issuer.authority,
      cache: false,
    })
    cleanup.push(() => off.close())
    await off.validate(await issuer.sign(issuer.claims(1)))
    expect(off.stats.cachedTokens).toBe(0)
  })
})
