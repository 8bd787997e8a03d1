import { execFile } from 'node:child_process'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createValidator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const script = fileURLToPath(new URL('./support/clients/client-secret.mjs', import.meta.url))
const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const DAEMON = '9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a'

let emu: Emulator
let caFile: string
beforeAll(async () => {
  emu = await startEmulator({
    https: true,
    apps: [
      {
        clientId: API,
        appIdUri: 'api://stock-api',
        appRoles: ['Stocks.Read'],
        accessTokenAcceptedVersion: 2,
      },
      {
        clientId: DAEMON,
        secrets: ['daemon-secret'],
        appRoleAssignments: [{ app: API, role: 'Stocks.Read' }],
      },
    ],
  })
  caFile = join(await mkdtemp(join(tmpdir(), 'entraguard-ca-')), 'emulator.pem')
  await writeFile(caFile, emu.caCertificate ?? '')
})
afterAll(async () => {
  await emu.close()
})

function run(secret: string): Promise<{ token?: string; error?: string }> {
  const env = { ...process.env, NODE_EXTRA_CA_CERTS: caFile, NO_PROXY: '127.0.0.1,localhost' }
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, emu.authority, emu.tenantId, DAEMON, secret, 'api://stock-api/.default'],
      { env, timeout: 40_000 },
      (err, stdout) => {
        if (stdout) resolve(JSON.parse(stdout))
        else reject(err ?? new Error('no output'))
      },
    )
  })
}

describe('ClientSecretCredential against the emulator over https', () => {
  it('gets a v2 app token that the validator accepts, with the assigned role', async () => {
    expect(emu.authority).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/)
    const r = await run('daemon-secret')
    expect(r.error).toBeUndefined()
    // The validator trusts the emulator's self-signed certificate through a fetch of its own.
    const { Agent, fetch: undiciFetch } = await import('undici')
    const dispatcher = new Agent({ connect: { ca: emu.caCertificate } })
    const validator = createValidator({
      tenant: emu.tenantId,
      audience: API,
      authority: emu.authority,
      fetch: ((url: string, init: RequestInit) =>
        undiciFetch(url, { ...(init as object), dispatcher })) as unknown as typeof fetch,
    })
    try {
      const principal = await validator.validate(r.token)
      expect(principal).toMatchObject({
        tokenVersion: 2,
        clientId: DAEMON,
        roles: ['Stocks.Read'],
        identityType: 'app',
        clientAuthMethod: '1',
      })
    } finally {
      validator.close()
    }
  })

  it('a wrong secret is refused by the emulator with AADSTS7000215', async () => {
    const r = await run('wrong')
    expect(r.token).toBeUndefined()
    expect(r.error).toContain('7000215')
  })
})
