// The migration guide's before/after apps (examples/migration) run side by side against the emulator
// with the same requests: what passport-azure-ad accepted, entraguard accepts; what it refused, entraguard
// refuses, with RFC 6750 answers; and the differences the guide names are asserted here, not just told.
import { once } from 'node:events'
import type { Server } from 'node:http'
import { globalAgent } from 'node:https'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import type { Express } from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createAfterApp } from '../examples/migration/after.js'
import { createBeforeApp, type PassportModules } from '../examples/migration/before.js'

const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const require = createRequire(import.meta.url)
// Both are CommonJS without types; before.ts declares the parts it uses.
const modules: PassportModules = {
  Passport: (require('passport') as { Passport: PassportModules['Passport'] }).Passport,
  BearerStrategy: (require('passport-azure-ad') as { BearerStrategy: PassportModules['BearerStrategy'] })
    .BearerStrategy,
}

let emu: Emulator
const servers: Server[] = []
let before: string
let after: string
let savedCa: unknown

async function listen(app: Express): Promise<string> {
  const server = app.listen(0, '127.0.0.1')
  await once(server, 'listening')
  servers.push(server)
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  // passport-azure-ad fetches metadata over https only, through Node's global agent.
  emu = await startEmulator({
    https: true,
    tenants: [{ id: '72f988bf-86f1-41af-91ab-2d7cd011db47' }],
    apps: [
      {
        clientId: API,
        appIdUri: 'api://stock-api',
        appRoles: ['Stocks.Read'],
        scopes: ['Stocks.Read', 'Stocks.Write'],
        accessTokenAcceptedVersion: 2,
      },
    ],
    identities: [
      { name: 'reader-vm', appRoleAssignments: [{ app: API, role: 'Stocks.Read' }] },
      { name: 'idle-vm' },
    ],
    users: [{ name: 'Ada Lovelace', username: 'ada@contoso.onmicrosoft.com' }],
  })
  savedCa = globalAgent.options.ca
  globalAgent.options.ca = emu.caCertificate
  const tenant = emu.tenantId
  before = await listen(
    createBeforeApp(
      {
        tenant,
        clientId: API,
        identityMetadata: `${emu.authority}/${tenant}/v2.0/.well-known/openid-configuration`,
      },
      modules,
    ),
  )
  after = await listen(createAfterApp({ tenant, clientId: API, authority: emu.httpAuthority }))
})

afterAll(async () => {
  globalAgent.options.ca = savedCa as string | undefined
  for (const s of servers) {
    s.closeAllConnections()
    s.close()
  }
  await emu?.close()
})

interface Answer {
  status: number
  body: unknown
  challenge: string | null
}

async function call(base: string, path: string, token?: string): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
  })
  const text = await res.text()
  let body: unknown = text
  try {
    body = JSON.parse(text)
  } catch {}
  return { status: res.status, body, challenge: res.headers.get('www-authenticate') }
}

async function both(path: string, token?: string): Promise<{ before: Answer; after: Answer }> {
  return { before: await call(before, path, token), after: await call(after, path, token) }
}

const mi = (name: string, extra: Parameters<Emulator['mintToken']>[0] = {}) =>
  emu.mintToken({ managedIdentity: name, audience: API, version: 2, ...extra })

describe('the same API before (passport-azure-ad) and after (entraguard)', () => {
  it('a VM with the app role reads /stocks through both, and both see the same caller', async () => {
    const token = mi('reader-vm')
    const r = await both('/stocks', token)
    expect(r.before.status).toBe(200)
    expect(r.after.status).toBe(200)
    expect(r.after.body).toEqual(r.before.body)
    expect(r.after.body).toMatchObject({ caller: emu.config.identities[0]?.clientId })
  })

  it('a user with the scope reads /me through both', async () => {
    const token = emu.mintToken({ identity: 'user', audience: API, version: 2, scopes: ['Stocks.Read'] })
    const r = await both('/me', token)
    expect([r.before.status, r.after.status]).toEqual([200, 200])
    expect(r.after.body).toEqual({ name: 'Ada Lovelace' })
    expect(r.after.body).toEqual(r.before.body)
  })

  it.each([
    ['no token', () => undefined, 'Bearer'],
    ['an expired token (beyond the 300 s skew)', () => mi('reader-vm', { expiresIn: -400 }), 'invalid_token'],
    ['a token for another audience', () => mi('reader-vm', { audience: 'api://other-api' }), 'invalid_token'],
    [
      'a token from another tenant',
      () => mi('reader-vm', { tenant: '0b2c4d6e-8f10-4a2b-9c3d-4e5f60718293' }),
      'invalid_token',
    ],
    [
      'a token signed with an unpublished key',
      () => mi('reader-vm', { unpublishedKey: true }),
      'invalid_token',
    ],
    [
      'a Microsoft Graph token',
      () => mi('reader-vm', { audience: 'https://graph.microsoft.com', header: { nonce: 'abc' } }),
      'invalid_token',
    ],
  ])('%s: 401 from both', async (_name, token, challenge) => {
    const r = await both('/stocks', token())
    expect([r.before.status, r.after.status]).toEqual([401, 401])
    if (challenge === 'Bearer') expect(r.after.challenge).toBe('Bearer')
    else expect(r.after.challenge).toMatch(/^Bearer error="invalid_token", error_description="[^"]+"$/)
    expect(r.after.body).toMatchObject(
      challenge === 'Bearer' ? { error: 'missing_token' } : { error: challenge },
    )
  })

  it('a VM without the role: 403 from both (by hand before, by requireRoles after)', async () => {
    const r = await both('/stocks', mi('idle-vm'))
    expect([r.before.status, r.after.status]).toEqual([403, 403])
    // passport-azure-ad let the role-less token through to the handler's own check...
    expect(r.before.body).toEqual({ error: 'forbidden' })
    // ...entraguard refuses a token with neither scp nor roles before any route runs.
    expect(r.after.challenge).toMatch(/^Bearer error="insufficient_scope", error_description="[^"]+"$/)
    expect(r.after.body).toMatchObject({ error: 'insufficient_scope' })
  })
})

describe('what changes (the guide names each)', () => {
  it('a user token without the scope: passport-azure-ad answers 401, entraguard 403 insufficient_scope', async () => {
    const token = emu.mintToken({ identity: 'user', audience: API, version: 2, scopes: ['Stocks.Write'] })
    const r = await both('/me', token)
    expect(r.before.status).toBe(401)
    expect(r.after.status).toBe(403)
    expect(r.after.challenge).toMatch(
      /^Bearer error="insufficient_scope", error_description="[^"]+", scope="[^"]*Stocks\.Read"$/,
    )
  })

  it('a v1 managed-identity token (api:// audience): refused by both until entraguard is told to take v1', async () => {
    const v1 = emu.mintToken({ managedIdentity: 'reader-vm', audience: 'api://stock-api', version: 1 })
    const r = await both('/stocks', v1)
    expect([r.before.status, r.after.status]).toEqual([401, 401])
    expect(r.after.body).toMatchObject({ error: 'invalid_token' })
    const widened = await listen(
      createAfterApp({
        tenant: emu.tenantId,
        clientId: API,
        authority: emu.httpAuthority,
        appIdUri: 'api://stock-api',
      }),
    )
    expect((await call(widened, '/stocks', v1)).status).toBe(200)
  })
})
