import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { describeToken, NotAJwtError, PERSONAL_ACCOUNTS_TENANT } from '../src/index.js'
import { styleFor } from '../src/render.js'
import { API, startFixture } from './fixture.js'

let emu: Emulator
beforeAll(async () => {
  emu = await startFixture()
})
afterAll(() => emu.close())

const ids = (token: string, now?: number) =>
  describeToken(token, now === undefined ? {} : { now }).findings.map((f) => `${f.severity}:${f.id}`)

describe('describeToken', () => {
  it('reads a v2 user token: caller, scopes, v2 audience advice, and no error', () => {
    const r = describeToken(
      emu.mintToken({
        version: 2,
        audience: API.clientId,
        identity: 'user',
        scopes: ['Stocks.Read', 'Quotes.Read'],
      }),
    )
    expect(r.version).toBe(2)
    expect(r.caller.kind).toBe('user')
    expect(r.caller.username).toBeTruthy()
    expect(r.scopes).toEqual(['Stocks.Read', 'Quotes.Read'])
    expect(r.valid).toBe(true)
    expect(
      ids(emu.mintToken({ version: 2, audience: API.clientId, identity: 'user', scopes: ['S'] })),
    ).toEqual(['info:token_version'])
  })

  it('accepts a pasted "Bearer …" header value', () => {
    expect(describeToken(`Bearer ${emu.mintToken({ audience: API.clientId, roles: ['R'] })}`).valid).toBe(
      true,
    )
  })

  it('tells lifetime problems, with the clock tolerance', () => {
    const token = emu.mintToken({ audience: API.clientId, roles: ['R'], expiresIn: 60 })
    const exp = (describeToken(token).expiresAt as Date).getTime()
    expect(ids(token, exp + 120_000)).toContain('warning:within_tolerance')
    expect(ids(token, exp + 301_000)).toContain('error:expired')
    expect(ids(emu.mintToken({ audience: API.clientId, roles: ['R'], notBefore: 3600 }))).toContain(
      'error:not_yet_valid',
    )
  })

  it('names an ID token, a token without a client, and a personal account', () => {
    const idToken = emu.mintToken({
      version: 2,
      audience: API.clientId,
      identity: 'user',
      claims: { nonce: 'abc', azp: undefined },
    })
    expect(ids(idToken)).toContain('error:id_token')
    expect(describeToken(idToken).valid).toBe(false)
    expect(
      ids(emu.mintToken({ version: 2, audience: API.clientId, roles: ['R'], claims: { azp: undefined } })),
    ).toContain('warning:no_client')
    expect(
      ids(emu.mintToken({ tenant: PERSONAL_ACCOUNTS_TENANT, audience: API.clientId, roles: ['R'] })),
    ).toContain('warning:personal_account')
  })

  it('warns when an app token has no roles, and tells a user-assigned identity', () => {
    const r = describeToken(
      emu.mintToken({
        version: 1,
        audience: API.appIdUri,
        claims: {
          xms_mirid:
            '/subscriptions/s/resourcegroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/quotes',
        },
      }),
    )
    expect(r.caller).toMatchObject({ kind: 'managed_identity', managedIdentityKind: 'user-assigned' })
    expect(r.findings.map((f) => f.id)).toEqual(['token_version', 'no_scope_or_role', 'roles_fixed_at_issue'])
  })

  it('refuses what is not a signed JWT', () => {
    expect(() => describeToken('a.b.c.d.e')).toThrow(/encrypted \(JWE\)/)
    expect(() => describeToken('not-a-token')).toThrow(NotAJwtError)
    expect(() => describeToken('eyJ.eyJ.sig')).toThrow(NotAJwtError)
  })
})

describe('styleFor', () => {
  it('colours only a TTY without NO_COLOR', () => {
    expect(styleFor(true, {}).red('x')).toBe('\x1b[31mx\x1b[39m')
    expect(styleFor(true, { NO_COLOR: '1' }).red('x')).toBe('x')
    expect(styleFor(false, {}).red('x')).toBe('x')
  })
})
