import { AUTH_ERROR_CODES } from '@entraguard/core'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { failingCheck, VALIDATION_CHECKS, type ValidateOptions, validateToken } from '../src/index.js'
import { API, startFixture } from './fixture.js'

let emu: Emulator
let options: ValidateOptions
beforeAll(async () => {
  emu = await startFixture()
  options = { tenant: emu.tenantId, audience: [API.appIdUri, API.clientId], authority: emu.authority }
})
afterAll(() => emu.close())

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
const mi = (extra: Parameters<Emulator['mintToken']>[0] = {}) =>
  emu.mintToken({
    version: 1,
    audience: API.appIdUri,
    managedIdentity: 'night-vm',
    roles: ['Stocks.Read'],
    ...extra,
  })

/** The token with its payload changed and the old signature kept. */
function tampered(token: string, change: Record<string, unknown>): string {
  const [h, p, s] = token.split('.') as [string, string, string]
  const payload = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  return `${h}.${b64({ ...payload, ...change })}.${s}`
}

describe('validateToken: which check fails', () => {
  const cases: [string, () => string, string, string, Partial<ValidateOptions>?][] = [
    ['two parts', () => 'abc.def', 'format', 'malformed_token'],
    [
      'a Graph token',
      () => mi({ audience: 'https://graph.microsoft.com', header: { nonce: 'n' } }),
      'graph',
      'invalid_audience',
    ],
    ['alg HS256', () => mi({ header: { alg: 'HS256' } }), 'header', 'unsupported_algorithm'],
    ['a crit header', () => mi({ header: { crit: ['exp'] } }), 'header', 'malformed_token'],
    ['tid not a GUID', () => mi({ claims: { tid: 'contoso' } }), 'origin', 'malformed_token'],
    ['ver against the iss form', () => mi({ claims: { ver: '2.0' } }), 'origin', 'invalid_issuer'],
    [
      'another tenant',
      () => mi({ tenant: '11111111-2222-3333-4444-555555555555' }),
      'tenant',
      'invalid_issuer',
    ],
    ['a wrong audience', () => mi({ audience: 'api://other-api' }), 'audience', 'invalid_audience'],
    [
      'an iss without its trailing slash',
      () => mi({ claims: { iss: `https://sts.windows.net/${emu.tenantId}` } }),
      'issuer',
      'invalid_issuer',
    ],
    ['an unpublished key', () => mi({ unpublishedKey: true }), 'key', 'unknown_key'],
    [
      'a changed payload',
      () => tampered(mi(), { roles: ['Stocks.Write'] }),
      'signature',
      'invalid_signature',
    ],
    ['an expired token', () => mi({ expiresIn: -3600 }), 'lifetime', 'expired'],
    ['no iat', () => mi({ claims: { iat: undefined } }), 'lifetime', 'malformed_token'],
    ['no appid', () => mi({ claims: { appid: undefined } }), 'caller', 'malformed_token'],
    ['no roles', () => mi({ roles: [] }), 'scopes_or_roles', 'no_scope_or_role'],
  ]
  it.each(cases)('%s → %s (%s)', async (_, token, check, code) => {
    const r = await validateToken(token(), options)
    expect(r.valid).toBe(false)
    expect(r.failure?.code).toBe(code)
    expect(r.failure?.check).toBe(check)
    const at = r.checks.findIndex((c) => c.id === check)
    expect(r.checks.slice(0, at).every((c) => c.status === 'pass')).toBe(true)
    expect(r.checks[at]?.status).toBe('fail')
    expect(r.checks.slice(at + 1).every((c) => c.status === 'not_reached' || c.status === 'skipped')).toBe(
      true,
    )
    expect(r.failure?.fix).toBeTruthy()
    expect(r.failure?.docs).toBe(`docs/troubleshooting.md#${code}`)
  })

  it('checks the requirement last: a missing role fails there, a held one passes everything', async () => {
    const denied = await validateToken(mi(), { ...options, requirement: { roles: ['Stocks.Write'] } })
    expect(denied.failure).toMatchObject({ check: 'requirement', code: 'insufficient_scope', status: 403 })
    expect(denied.failure?.detail).toContain("lacks app role 'Stocks.Write'")
    const allowed = await validateToken(mi(), { ...options, requirement: { roles: ['Stocks.Read'] } })
    expect(allowed.valid).toBe(true)
    expect(allowed.checks.every((c) => c.status === 'pass')).toBe(true)
    expect(allowed.principal?.managedIdentityResourceId).toContain('night-vm')
    const noRequirement = await validateToken(mi(), options)
    expect(noRequirement.checks.at(-1)?.status).toBe('skipped')
  })

  it('places a key-issuer refusal after the signature (the emulator cannot mint one)', () => {
    const detail =
      'The signing key k1 belongs to issuer https://login.microsoftonline.com/x/v2.0, not to https://login.microsoftonline.com/y/v2.0'
    expect(failingCheck('invalid_issuer', detail, true).id).toBe('key_issuer')
    expect(failingCheck('invalid_issuer', 'iss is x; this API trusts y', true).id).toBe('issuer')
    expect(failingCheck('tenant_not_allowed', 'tid t is not in allowedTenants', false).id).toBe('tenant')
  })

  it('places every code the validator and check() can end with (forbidden comes from policies only)', () => {
    const placed = new Set(VALIDATION_CHECKS.flatMap((c) => c.codes))
    expect(AUTH_ERROR_CODES.filter((code) => !placed.has(code))).toEqual(['forbidden'])
  })
})
