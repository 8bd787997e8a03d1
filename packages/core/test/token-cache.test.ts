import { type AuthEvent, createValidator, type Principal, type Validator } from '@entraguard/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { API_APP_ID_URI, API_CLIENT_ID, type LocalIssuer, startLocalIssuer } from './local-issuer.js'

// The validated-token cache keeps a compacted copy of each principal (strings shared between entries, issue 9):
// what a cache hit returns must be indistinguishable from a fresh validation.
let issuer: LocalIssuer
let validator: Validator
beforeAll(async () => {
  issuer = await startLocalIssuer()
  validator = createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
  })
})
afterAll(async () => {
  validator.close()
  await issuer.close()
})

/** The fresh principal (first sighting), and the one the cache answers with once the token was admitted. */
async function freshAndCached(token: string): Promise<[Principal, Principal]> {
  const fresh = await validator.validate(`Bearer ${token}`)
  await validator.validate(`Bearer ${token}`) // second sighting: admitted
  const cached = await validator.validate(`Bearer ${token}`)
  return [fresh, cached]
}

describe('validated-token cache', () => {
  it('answers a reused token with a principal equal to the fresh one: same keys, values, frozenness', async () => {
    const before = validator.stats.cachedTokens
    const [fresh, cached] = await freshAndCached(await issuer.sign(issuer.claims(2)))
    expect(validator.stats.cachedTokens).toBe(before + 1)
    expect(cached).not.toBe(fresh)
    expect(cached).toStrictEqual(fresh)
    expect(Object.keys(cached)).toEqual(Object.keys(fresh))
    expect(Object.keys(cached.claims)).toEqual(Object.keys(fresh.claims))
    expect(cached.roles).toEqual(fresh.roles)
    expect(cached.expiresAt.getTime()).toBe(fresh.expiresAt.getTime())
    for (const p of [cached, cached.claims, cached.roles, cached.scopes, cached.groups]) {
      expect(Object.isFrozen(p)).toBe(true)
    }
    expect(Object.getPrototypeOf(cached.claims)).toBeNull()
  })

  it('keeps nested claim arrays as copies and a signed "__proto__" member as a plain own claim', async () => {
    const token = await issuer.signBytes(
      issuer.headerJson(),
      JSON.stringify(issuer.claims(2, { groups: ['g1', 'g2'], xms_cc: ['cp1'] })).replace(
        '{',
        '{"__proto__":{"admin":true},',
      ),
    )
    const [fresh, cached] = await freshAndCached(token)
    expect(cached).toStrictEqual(fresh)
    const claims = cached.claims as Record<string, unknown>
    expect(Object.hasOwn(claims, '__proto__')).toBe(true)
    expect(claims.__proto__).toEqual({ admin: true })
    expect(claims.admin).toBeUndefined()
    expect(claims.toString).toBeUndefined()
    expect(cached.groups).toEqual(['g1', 'g2'])
    expect(claims.xms_cc).toEqual(['cp1'])
    expect(claims.xms_cc).not.toBe((fresh.claims as Record<string, unknown>).xms_cc)
  })
})

describe('validated-token cache: what cached principals share', () => {
  it('reads claims and expiresAt lazily yet as stable, equal objects', async () => {
    const [fresh, cached] = await freshAndCached(await issuer.sign(issuer.claims(2)))
    expect(cached.claims).toBe(cached.claims)
    expect(cached.expiresAt).toBe(cached.expiresAt)
    expect(cached.expiresAt).toEqual(fresh.expiresAt)
    expect({ ...cached }).toStrictEqual({ ...fresh })
    expect(JSON.parse(JSON.stringify(cached))).toEqual(JSON.parse(JSON.stringify(fresh)))
  })

  it('never mixes up the role lists of two callers whose roles join alike', async () => {
    const [, a] = await freshAndCached(await issuer.sign(issuer.claims(2, { roles: ['a\nb', 'c'] })))
    const [, b] = await freshAndCached(await issuer.sign(issuer.claims(2, { roles: ['a', 'b\nc'] })))
    const [, c] = await freshAndCached(await issuer.sign(issuer.claims(2, { roles: ['a', 'b\nc'] })))
    expect(a.roles).toEqual(['a\nb', 'c'])
    expect(b.roles).toEqual(['a', 'b\nc'])
    expect(c.roles).toEqual(['a', 'b\nc'])
    expect(Object.isFrozen(c.roles)).toBe(true)
  })
})

describe('validated-token cache: how a token is recognised', () => {
  // The cache names a token by the tail of its signature and recognises it by the SHA-256 of the whole token
  // (or, for the most-served few, by comparing the whole token): another payload under a cached token's
  // signature must be validated in full, and refused.
  const swapPayload = (token: string, claims: Record<string, unknown>) => {
    const [header, , signature] = token.split('.')
    return `${header}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${signature}`
  }

  it('refuses a cached token whose payload was replaced, whether the token is cached or among the most served', async () => {
    const claims = issuer.claims(2)
    const token = await issuer.sign(claims)
    const forged = swapPayload(token, { ...claims, roles: ['Stocks.Admin'] })
    await validator.validate(`Bearer ${token}`)
    await validator.validate(`Bearer ${token}`) // admitted: cached under its signature's tail
    await expect(validator.validate(`Bearer ${forged}`)).rejects.toMatchObject({ code: 'invalid_signature' })
    await validator.validate(`Bearer ${token}`) // served from the cache: now among the most served
    await expect(validator.validate(`Bearer ${forged}`)).rejects.toMatchObject({ code: 'invalid_signature' })
    expect((await validator.validate(`Bearer ${token}`)).roles).toEqual(claims.roles)
  })

  it('caches a token given as `Bearer <token>` and as a bare token alike', async () => {
    const events: AuthEvent[] = []
    const v = createValidator({
      tenant: issuer.tenantId,
      audience: API_CLIENT_ID,
      authority: issuer.authority,
      onEvent: (e) => events.push(e),
    })
    try {
      for (const [n, form] of [(t: string) => `Bearer ${t}`, (t: string) => t].entries()) {
        const token = await issuer.sign(issuer.claims(2, { oid: `0000000${n}` }))
        events.length = 0
        for (let i = 0; i < 4; i++) await v.validate(form(token))
        // Validated on the first two sightings, served from the cache from the third on.
        expect(events.filter((e) => e.type === 'token.validated').map((e) => e.cached)).toEqual([
          false,
          false,
          true,
          true,
        ])
      }
    } finally {
      v.close()
    }
  })

  it('serves every reused token right when more tokens are reused than it keeps verbatim', async () => {
    const tokens = await Promise.all(
      Array.from({ length: 80 }, (_, i) => issuer.sign(issuer.claims(2, { oid: `0000000${i}`.slice(-8) }))),
    )
    for (let round = 0; round < 4; round++) {
      for (const [i, token] of tokens.entries()) {
        expect((await validator.validate(`Bearer ${token}`)).objectId).toBe(`0000000${i}`.slice(-8))
      }
    }
  })

  it('stops serving a cached token at its expiry, also from the most served', async () => {
    let clock = Date.now()
    const timed = createValidator({
      tenant: issuer.tenantId,
      audience: [API_APP_ID_URI, API_CLIENT_ID],
      authority: issuer.authority,
      clockTolerance: 0,
      now: () => clock,
    })
    try {
      const exp = Math.floor(clock / 1000) + 60
      const token = await issuer.sign(issuer.claims(2, { exp }))
      for (let i = 0; i < 4; i++) await timed.validate(`Bearer ${token}`)
      clock = (exp + 1) * 1000
      await expect(timed.validate(`Bearer ${token}`)).rejects.toMatchObject({ code: 'expired' })
    } finally {
      timed.close()
    }
  })
})
