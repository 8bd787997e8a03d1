import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const READER = '2f1a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70'
const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({
    apps: [
      { clientId: API, appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'] },
      { name: 'payroll', appIdUri: 'api://payroll', appRoles: ['Pay.Read'] },
    ],
    identities: [
      { name: 'reader-vm', clientId: READER, appRoleAssignments: [{ app: API, role: 'Stocks.Read' }] },
    ],
  })
})
afterAll(async () => {
  await emu.close()
})

const rolesIn = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()).roles ?? []) as string[]

/** A curl-style IMDS request, as Microsoft's docs show it. */
async function imds(clientId = READER, extra = '') {
  const res = await fetch(
    `${emu.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://stock-api&client_id=${clientId}${extra}`,
    { headers: { Metadata: 'true' } },
  )
  return { status: res.status, body: (await res.json()) as Record<string, string> }
}

function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
  })
  let output = ''
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  child.stdout.on('data', (c: Buffer) => {
    output += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    output += c.toString()
  })
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    }),
  )
}

describe('a directory that changes while it runs, behind IMDS’s token cache', () => {
  it('assignAppRole shows only in a token issued later: IMDS keeps its cached token until cleared', async () => {
    const first = await imds()
    expect(rolesIn(first.body.access_token as string)).toEqual(['Stocks.Read'])
    emu.assignAppRole({ principal: 'reader-vm', app: API, role: 'Stocks.Write' })
    const cached = await imds()
    expect(cached.body.access_token).toBe(first.body.access_token)
    expect(cached.body.expires_on).toBe(first.body.expires_on)
    expect(Number(cached.body.expires_in)).toBeLessThanOrEqual(Number(first.body.expires_in))
    // A minted token reads the directory now.
    expect(rolesIn(emu.mintToken({ managedIdentity: 'reader-vm' }))).toEqual(['Stocks.Read', 'Stocks.Write'])
    emu.clearTokenCache()
    const fresh = await imds()
    expect(fresh.body.access_token).not.toBe(first.body.access_token)
    expect(rolesIn(fresh.body.access_token as string)).toEqual(['Stocks.Read', 'Stocks.Write'])
    emu.removeAppRoleAssignment({ principal: READER, app: 'api://stock-api', role: 'Stocks.Write' })
    // bypass_cache=true (IMDS API 2023-07-01) asks for a token straight from Entra.
    const bypass = await imds(READER, '&bypass_cache=true')
    expect(rolesIn(bypass.body.access_token as string)).toEqual(['Stocks.Read'])
  })

  it('a cache lifetime lets a token expire from the cache; imdsTokenCache: false issues a new token each time', async () => {
    const short = await startEmulator({
      apps: [{ appIdUri: 'api://a', appRoles: ['R'] }],
      identities: [{ name: 'vm' }],
      imdsTokenCache: { lifetime: 1 },
    })
    const off = await startEmulator({
      apps: [{ appIdUri: 'api://a', appRoles: ['R'] }],
      identities: [{ name: 'vm' }],
      imdsTokenCache: false,
    })
    try {
      const get = async (e: Emulator) =>
        (
          (await (
            await fetch(
              `${e.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://a`,
              {
                headers: { Metadata: 'true' },
              },
            )
          ).json()) as Record<string, string>
        ).access_token
      const a = await get(short)
      expect(await get(short)).toBe(a)
      await new Promise((r) => setTimeout(r, 1_100))
      expect(await get(short)).not.toBe(a)
      expect(await get(off)).not.toBe(await get(off))
    } finally {
      await short.close()
      await off.close()
    }
  })

  it.each([
    [
      { principal: 'nobody', app: API, role: 'Stocks.Read' },
      "no managed identity or app registration 'nobody'",
    ],
    [
      { principal: 'reader-vm', app: 'api://nope', role: 'Stocks.Read' },
      "no app with client ID, App ID URI or name 'api://nope'",
    ],
    [{ principal: 'reader-vm', app: API, role: 'Stocks.Delete' }, "defines no app role 'Stocks.Delete'"],
    [{ principal: 'reader-vm', role: 'Nope' }, "no app defines the app role 'Nope'"],
  ])('assignAppRole(%j) throws, naming the value, and changes nothing', (assignment, message) => {
    const before = JSON.stringify(emu.config.identities)
    expect(() => emu.assignAppRole(assignment)).toThrow(message)
    expect(JSON.stringify(emu.config.identities)).toBe(before)
  })

  it('adds and removes identities and apps at run time', async () => {
    const night = emu.addIdentity({
      name: 'night-vm',
      appRoleAssignments: [{ app: 'api://payroll', role: 'Pay.Read' }],
    })
    const r = await fetch(
      `${emu.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://payroll&client_id=${night.clientId}`,
      { headers: { Metadata: 'true' } },
    )
    expect(rolesIn(((await r.json()) as Record<string, string>).access_token as string)).toEqual(['Pay.Read'])
    emu.removeIdentity('night-vm')
    expect((await imds(night.clientId)).body.error_description).toBe('Identity not found')
    expect(() => emu.addIdentity({ name: 'reader-vm' })).toThrow('used already')
    const app = emu.addApp({ appIdUri: 'api://quotes', appRoles: ['Quotes.Read'] })
    emu.assignAppRole({ principal: 'reader-vm', role: 'Quotes.Read' })
    expect(rolesIn(emu.mintToken({ managedIdentity: 'reader-vm', audience: 'api://quotes' }))).toEqual([
      'Quotes.Read',
    ])
    emu.removeApp(app.clientId)
    expect(emu.config.identities[0]?.appRoleAssignments.some((a) => a.app === app.clientId)).toBe(false)
  })
})

describe('admin endpoint and CLI', () => {
  it('entraguard-emulator assign / unassign / clear-token-cache drive a running emulator', async () => {
    const env = { ENTRAGUARD_EMULATOR: emu.adminEndpoint }
    const assign = await run(['assign', '--identity', 'reader-vm', '--role', 'Stocks.Write'], env)
    expect(assign.output).toContain('Assigned Stocks.Write to reader-vm')
    expect(assign.code).toBe(0)
    expect(emu.config.identities[0]?.appRoleAssignments).toContainEqual({ app: API, role: 'Stocks.Write' })
    const [again, wrong] = await Promise.all([
      run(['unassign', '--identity', 'reader-vm', '--app', 'api://stock-api', '--role', 'Stocks.Write'], env),
      run(['assign', '--identity', 'ghost', '--role', 'Stocks.Write'], env),
    ])
    expect(again.code).toBe(0)
    expect(emu.config.identities[0]?.appRoleAssignments).not.toContainEqual({
      app: API,
      role: 'Stocks.Write',
    })
    expect(wrong.code).toBe(1)
    expect(wrong.output).toContain("no managed identity or app registration 'ghost'")
    const before = await imds()
    const clear = await fetch(`${emu.adminEndpoint}/token-cache/clear`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ identity: 'reader-vm' }),
    })
    expect(clear.status).toBe(204)
    expect((await imds()).body.access_token).not.toBe(before.body.access_token)
  }, 30_000)

  it('refuses browsers (Origin), non-loopback hosts and non-JSON bodies', async () => {
    const url = `${emu.adminEndpoint}/app-role-assignments`
    const body = JSON.stringify({ principal: 'reader-vm', role: 'Stocks.Write' })
    const fromPage = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'https://evil.example' },
      body,
    })
    expect(fromPage.status).toBe(403)
    const form = await fetch(url, { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
    expect(form.status).toBe(415)
    const directory = (await (await fetch(`${emu.adminEndpoint}/directory`)).json()) as { apps: object[] }
    expect(JSON.stringify(directory)).not.toContain('secrets')
    expect(emu.config.identities[0]?.appRoleAssignments).not.toContainEqual({
      app: API,
      role: 'Stocks.Write',
    })
  })
})
