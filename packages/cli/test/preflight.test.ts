import { createServer } from 'node:net'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type InspectIO, runInspect } from '../src/index.js'
import { API, startFixture, validationArgs } from './fixture.js'

async function inspect(argv: string[]) {
  let out = ''
  let err = ''
  const io: InspectIO = {
    stdin: Object.assign((async function* () {})(), { isTTY: true }),
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: {},
  }
  return { code: await runInspect(argv, io), out, err }
}

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

let emu: Emulator
beforeAll(async () => {
  emu = await startFixture()
})
afterAll(async () => {
  await emu.close()
})

describe('entraguard inspect --preflight', () => {
  it('exits 0 for a configuration that works, saying what it checked', async () => {
    const r = await inspect(['--preflight', ...validationArgs(emu)])
    expect(r.code).toBe(0)
    expect(r.out).toContain(`Preflight (tenant ${emu.tenantId}, audience ${API.appIdUri}, ${API.clientId}`)
    expect(r.out).toContain(`✓ tenant ${emu.tenantId} resolves`)
    expect(r.out).toMatch(/Result: OK, exit 0\n$/)
  })

  it('exits 1 for a configuration no token can pass, with the fix', async () => {
    const args = ['--tenant', emu.tenantId, '--audience', API.appIdUri, '--authority', emu.authority]
    const r = await inspect(['--preflight', ...args, '--token-versions', '2'])
    expect(r.code).toBe(1)
    expect(r.out).toContain('✗ error   tokenVersions is [2] and audience holds no client ID')
    expect(r.out).toContain("    Fix: Add the API's application (client) ID to audience")
    expect(r.out).toMatch(/Result: PROBLEMS, exit 1\n$/)
  })

  it('exits 0 with warnings, and 1 for a tenant that does not exist; --json for scripts', async () => {
    const only = ['--tenant', emu.tenantId, '--audience', API.clientId, '--authority', emu.authority]
    const warned = await inspect(['--preflight', ...only, '--json'])
    expect(warned.code).toBe(0)
    expect(JSON.parse(warned.out)).toMatchObject({
      ok: true,
      exitCode: 0,
      problems: [{ code: 'audience_misses_version', severity: 'warning' }],
    })
    const args = [
      '--tenant',
      'fabrikam.onmicrosoft.com',
      '--audience',
      API.clientId,
      '--authority',
      emu.authority,
    ]
    const missing = await inspect(['--preflight', ...args, '--token-versions', '2', '--json'])
    expect(missing.code).toBe(1)
    const report = JSON.parse(missing.out)
    expect(report.ok).toBe(false)
    expect(report.problems.map((p: { code: string }) => p.code)).toEqual(['tenant_not_found'])
  })

  it('exits 2 when the issuer cannot be reached', async () => {
    const port = await closedPort()
    const r = await inspect([
      '--preflight',
      '--tenant',
      emu.tenantId,
      '--audience',
      API.clientId,
      '--authority',
      `http://127.0.0.1:${port}`,
    ])
    expect(r.code).toBe(2)
    expect(r.out).toContain('[metadata_unreachable]')
    expect(r.out).toMatch(/Result: UNKNOWN \(issuer unreachable\), exit 2\n$/)
  })

  it.each([
    [['--preflight', 'a.b.c', '--tenant', 't.onmicrosoft.com', '--audience', 'a'], 'give no token'],
    [['--preflight'], '--preflight needs --tenant and --audience'],
    [['--preflight', '--tenant', 't.onmicrosoft.com', '--audience', 'a', '--roles', 'R'], 'takes no --roles'],
    [
      ['--preflight', '--tenant', 't.onmicrosoft.com', '--audience', 'a', '--token-versions', '3'],
      '--token-versions is 1, 2 or 1,2',
    ],
    [['a.b.c', '--token-versions', '2'], '--token-versions goes with --preflight'],
  ])('%j exits 2: %s', async (argv, message) => {
    const r = await inspect(argv)
    expect(r.code).toBe(2)
    expect(r.err).toContain(message)
  })

  it('exits 2 for options the validator refuses, naming them', async () => {
    const r = await inspect(['--preflight', '--tenant', 'common', '--audience', API.clientId])
    expect(r.code).toBe(2)
    expect(r.err).toContain('allowedTenants')
  })
})
