import { createHmac, generateKeyPairSync, sign } from 'node:crypto'
import { type AuthEvent } from '@entraguard/core'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAMEWORKS, startScenarioApi } from './support/apps.js'
import { send } from './support/http.js'
import { API_CLIENT_ID, API_URI, startScenarioEmulator } from './support/scenario.js'

// security-notes §1: each attack, over real HTTP, against both adapters. All must be 400/401, never 200 or 500.
let emu: Emulator
beforeAll(async () => {
  emu = await startScenarioEmulator()
})
afterAll(async () => {
  await emu.close()
})

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const parts = (t: string) => t.split('.') as [string, string, string]
const payloadOf = (t: string) =>
  JSON.parse(Buffer.from(parts(t)[1], 'base64url').toString()) as Record<string, unknown>
const valid = () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI })

function attackerSigned(header: Record<string, unknown>, payload: Record<string, unknown>) {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const jwk = publicKey.export({ format: 'jwk' })
  const input = `${b64({ typ: 'JWT', alg: 'RS256', ...header, ...(header.jwk === true ? { jwk } : {}) })}.${b64(payload)}`
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`
}

const attacks: [string, () => string, number][] = [
  ['A1 alg none', () => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(valid())[1]}.`, 401],
  [
    'A2 HS256 signed with the public key',
    () => {
      const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${parts(valid())[1]}`
      return `${input}.${createHmac('sha256', 'any public key material').update(input).digest('base64url')}`
    },
    401,
  ],
  ['A3 embedded jwk header', () => attackerSigned({ jwk: true, kid: 'attacker' }, payloadOf(valid())), 401],
  [
    'A4 jku header to a loopback key set',
    () => attackerSigned({ jku: 'http://127.0.0.1:1/keys', kid: 'attacker' }, payloadOf(valid())),
    401,
  ],
  ['A6 kid path traversal', () => attackerSigned({ kid: '../../../../dev/null' }, payloadOf(valid())), 401],
  ['A8 signature stripped', () => `${parts(valid())[0]}.${parts(valid())[1]}.`, 401],
  [
    'A8 payload spliced from another token',
    () =>
      `${parts(valid())[0]}.${b64({ ...payloadOf(valid()), roles: ['Stocks.Write'] })}.${parts(valid())[2]}`,
    401,
  ],
  [
    'A12 exp far in the past',
    () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, expiresIn: -86_400 }),
    401,
  ],
  [
    'A12 nbf in the future',
    () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, notBefore: 3_600 }),
    401,
  ],
  [
    'A13 token for Microsoft Graph',
    () =>
      emu.mintToken({
        managedIdentity: 'reader-vm',
        audience: 'https://graph.microsoft.com',
        header: { nonce: 'x' },
      }),
    401,
  ],
  [
    'A14 iss of another tenant',
    () =>
      emu.mintToken({
        managedIdentity: 'reader-vm',
        audience: API_URI,
        tenant: '11111111-2222-4333-8444-555555555555',
      }),
    401,
  ],
  [
    'A15 iss/tid mismatch',
    () =>
      emu.mintToken({
        managedIdentity: 'reader-vm',
        audience: API_URI,
        claims: { tid: '11111111-2222-4333-8444-555555555555' },
      }),
    401,
  ],
  ['A19 JWE (five parts)', () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d', 401],
  [
    'A20 crit header',
    () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, header: { crit: ['exp'] } }),
    401,
  ],
  [
    'A21 b64:false',
    () =>
      emu.mintToken({
        managedIdentity: 'reader-vm',
        audience: API_URI,
        header: { b64: false, crit: ['b64'] },
      }),
    401,
  ],
  ['A25 padded signature', () => `${valid()}==`, 401],
  [
    'A25 non-canonical last character',
    () => {
      const t = valid()
      const last = t[t.length - 1] as string
      return `${t.slice(0, -1)}${last === 'A' ? 'B' : String.fromCharCode(last.charCodeAt(0) ^ 1)}`
    },
    401,
  ],
  [
    'A17 an unsigned-looking ID token for another audience',
    () => emu.mintToken({ audience: 'client-app-id', identity: 'user', scopes: ['openid'] }),
    401,
  ],
]

describe.each(FRAMEWORKS)('attacks against %s', (framework) => {
  let api: Awaited<ReturnType<typeof startScenarioApi>>
  let events: AuthEvent[]
  beforeAll(async () => {
    api = await startScenarioApi(framework, emu, [API_URI, API_CLIENT_ID])
    events = api.events
  })
  afterAll(async () => {
    await api.close()
  })

  it.each(attacks.map(([name, make, status]) => ({ name, make, status })))(
    '$name → $status',
    async ({ make, status }) => {
      const token = make()
      const reply = await send(api.base, '/stocks', { headers: { authorization: `Bearer ${token}` } })
      expect(reply.status).toBe(status)
      expect(reply.body).not.toContain(token)
    },
  )

  it('a storm of random kids makes at most one key fetch', async () => {
    const before = emu.requests.filter((r) => r.path.includes('/keys')).length
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        send(api.base, '/stocks', {
          headers: {
            authorization: `Bearer ${emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, header: { kid: `random-${i}` } })}`,
          },
        }),
      ),
    )
    expect(replies.every((r) => r.status === 401)).toBe(true)
    expect(emu.requests.filter((r) => r.path.includes('/keys')).length - before).toBeLessThanOrEqual(1)
  })

  it('never logs the token in an event', () => {
    expect(events.some((e) => e.type === 'token.rejected')).toBe(true)
    const text = JSON.stringify(events)
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.eyJ/)
  })
})
