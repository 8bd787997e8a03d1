import {
  AuthError,
  type AuthEvent,
  authorize,
  check,
  createValidator,
  type Principal,
  type Validator,
} from '@entraguard/core'
import { authenticateNow } from '@entraguard/core/internal'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { API_APP_ID_URI, API_CLIENT_ID, type LocalIssuer, startLocalIssuer } from './local-issuer.js'
import { principal } from './principals.js'

// Issue 9: a known token and every refusal that needs no network are answered without a promise, and a
// decision nobody listens to builds no event. These tests pin the behaviour; the speed is in `pnpm bench`.
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

const shape = (authorization: string | undefined) => ({
  headers: authorization === undefined ? [] : ['Authorization', authorization],
  url: '/stocks',
})

describe('authenticateNow', () => {
  it('needs a promise only until the keys are known; then answers new, reused and refused tokens at once', async () => {
    const fresh = createValidator({
      tenant: issuer.tenantId,
      audience: API_CLIENT_ID,
      authority: issuer.authority,
    })
    try {
      const token = await issuer.sign(issuer.claims(2))
      const first = authenticateNow(fresh, shape(`Bearer ${token}`), {})
      expect(first).toBeInstanceOf(Promise)
      expect(((await first) as Principal).clientId).toBe(issuer.claims(2).azp)
      const another = await issuer.sign(issuer.claims(2, { oid: 'another' }))
      for (let i = 0; i < 3; i++) {
        const now = authenticateNow(fresh, shape(`Bearer ${another}`), {})
        expect(now).not.toBeInstanceOf(Promise)
        expect((now as Principal).objectId).toBe('another')
      }
      for (const bad of [
        'Bearer x.y.z',
        'Basic dXNlcjpwYXNz',
        `Bearer ${token.slice(0, token.lastIndexOf('.'))}`,
      ]) {
        const refusal = authenticateNow(fresh, shape(bad), {})
        expect(refusal).toBeInstanceOf(AuthError)
      }
    } finally {
      fresh.close()
    }
  })

  it('answers like authenticate(): anonymous, report-only and resource metadata', async () => {
    const events: AuthEvent[] = []
    const v = createValidator({
      tenant: issuer.tenantId,
      audience: API_CLIENT_ID,
      authority: issuer.authority,
      resourceMetadata: { resource: 'http://127.0.0.1:8080/api' },
      onEvent: (e) => events.push(e),
    })
    try {
      expect(authenticateNow(v, shape(undefined), { optional: true })).toBeUndefined()
      expect(authenticateNow(v, shape('Basic dXNlcjpwYXNz'), { optional: true })).toBeUndefined()
      const refusal = authenticateNow(v, shape('Bearer x.y.z'), {}) as AuthError
      expect(refusal.code).toBe('malformed_token')
      expect(refusal.wwwAuthenticate).toContain('resource_metadata="http://127.0.0.1:8080/.well-known/')
      const seen: AuthError[] = []
      const reported = authenticateNow(v, shape('Bearer x.y.z'), {
        reportOnly: true,
        onWouldReject: (e) => seen.push(e),
      })
      expect(reported).toBeUndefined()
      expect(seen.map((e) => e.code)).toEqual(['malformed_token'])
      // The validator reports the Basic credential it saw (optional lets the request through anonymously).
      expect(events.map((e) => `${e.type} ${e.code}`)).toEqual([
        'token.rejected missing_token',
        'token.rejected malformed_token',
        'token.would_reject malformed_token',
      ])
    } finally {
      v.close()
    }
  })

  it('rejects validate() for garbage like before: an AuthError, one microtask later', async () => {
    await expect(validator.validate('Bearer x.y.z')).rejects.toBeInstanceOf(AuthError)
    await expect(validator.validate(undefined)).rejects.toMatchObject({ code: 'missing_token' })
  })
})

describe('authorize with nobody listening', () => {
  // Every subset of three names, for roles, scopes and both sides of a requirement: exhaustive, not sampled.
  const subsets = Array.from({ length: 8 }, (_, bits) => ['A', 'B', 'C'].filter((_, i) => bits & (1 << i)))

  it('allows and denies exactly as check() decides, and emits nothing when it allows', () => {
    const emit = vi.fn()
    const quiet = { ...validator, emit }
    let cases = 0
    for (const identityType of ['app', 'user'] as const)
      for (const roles of subsets)
        for (const scopes of subsets) {
          const p = principal({ identityType, roles, scopes })
          for (const wantedScopes of subsets)
            for (const wantedRoles of subsets)
              for (const match of ['any', 'all', undefined] as const) {
                const requirement = { scopes: wantedScopes, roles: wantedRoles, match }
                emit.mockClear()
                const decision = check(p, requirement)
                let denied: unknown
                try {
                  authorize(p, { requirement }, { method: 'GET', route: '/x' }, quiet)
                } catch (err) {
                  denied = err
                }
                expect(denied === undefined).toBe(decision.allowed)
                if (!decision.allowed) expect((denied as AuthError).code).toBe('insufficient_scope')
                expect(emit).toHaveBeenCalledTimes(decision.allowed ? 0 : 1)
                cases++
              }
        }
    expect(cases).toBe(2 * 8 * 8 * 8 * 8 * 3)
  })

  it('still reports every decision to a validator with onEvent', () => {
    const events: AuthEvent[] = []
    const listened = createValidator({
      tenant: issuer.tenantId,
      audience: API_CLIENT_ID,
      authority: issuer.authority,
      onEvent: (e) => events.push(e),
    })
    authorize(principal({ roles: ['A'] }), { requirement: { roles: ['A'] } }, { method: 'GET' }, listened)
    expect(events.map((e) => e.type)).toEqual(['access.allowed'])
    listened.close()
  })
})
