import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { API, startFixture, VM_RESOURCE_ID, validationArgs } from './fixture.js'

// The bin as users run it, from source: a child process, the token on stdin, output on pipes (not a TTY).
const bin = fileURLToPath(new URL('../src/bin.ts', import.meta.url))

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

function run(args: string[], stdin = '', env: Record<string, string> = {}): Promise<Run> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', bin, ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '', ...env },
  })
  let stdout = ''
  let stderr = ''
  const timer = setTimeout(() => child.kill('SIGKILL'), 40_000)
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString()
  })
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString()
  })
  child.stdin.end(stdin)
  return new Promise((resolve) =>
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    }),
  )
}

const signatureOf = (token: string) => token.split('.')[2] as string

/** A loopback port where nothing listens. */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as { port: number }
  await new Promise((resolve) => server.close(resolve))
  return port
}

// Each run starts Node with a TypeScript loader: seconds on a busy machine.
vi.setConfig({ testTimeout: 60_000 })

let emu: Emulator
beforeAll(async () => {
  emu = await startFixture()
})
afterAll(() => emu.close())

describe('entraguard inspect (decode only)', () => {
  it('describes a v1 managed-identity token read from stdin, never printing its signature', async () => {
    const token = emu.mintToken({
      version: 1,
      audience: API.appIdUri,
      managedIdentity: 'night-vm',
      roles: ['Stocks.Read'],
    })
    const [piped, dashed] = await Promise.all([run(['inspect'], token), run(['inspect', '-'], token)])
    for (const r of [piped, dashed]) {
      expect(r.code).toBe(0)
      expect(r.stdout).toMatch(/version\s+v1\.0/)
      expect(r.stdout).toMatch(/caller\s+managed identity, system-assigned/)
      expect(r.stdout).toContain(VM_RESOURCE_ID)
      expect(r.stdout).toMatch(/roles\s+Stocks\.Read/)
      expect(r.stdout).toContain(`tenant      ${emu.tenantId}`)
      expect(r.stdout).toContain('requestedAccessTokenVersion')
      expect(r.stdout).not.toContain(signatureOf(token))
      expect(r.stdout).not.toMatch(/\x1b\[/)
    }
  })

  it('exits 1 for a Microsoft Graph token and for an expired token; --json is parseable and signature-free', async () => {
    const graph = emu.mintToken({
      version: 1,
      audience: 'https://graph.microsoft.com',
      managedIdentity: 'night-vm',
      header: { nonce: 'x' },
    })
    const expired = emu.mintToken({
      version: 2,
      audience: API.clientId,
      identity: 'user',
      scopes: ['Stocks.Read'],
      expiresIn: -3600,
    })
    const [g, e] = await Promise.all([run(['inspect', '-'], graph), run(['inspect', '-', '--json'], expired)])
    expect(g.code).toBe(1)
    expect(g.stdout).toContain('A token for Microsoft Graph')
    expect(g.stdout).toContain('INVALID')
    expect(e.code).toBe(1)
    const json = JSON.parse(e.stdout) as {
      valid: boolean
      token: { findings: { id: string }[]; version: number }
    }
    expect(json.valid).toBe(false)
    expect(json.token.version).toBe(2)
    expect(json.token.findings.map((f) => f.id)).toContain('expired')
    expect(e.stdout).not.toContain(signatureOf(expired))
  })
})

describe('entraguard inspect --tenant --audience (validation)', () => {
  it('runs the validator against the emulator: a valid token with its role exits 0', async () => {
    const token = emu.mintToken({
      version: 1,
      audience: API.appIdUri,
      managedIdentity: 'night-vm',
      roles: ['Stocks.Read'],
    })
    const r = await run(['inspect', '-', ...validationArgs(emu), '--roles', 'Stocks.Read'], token)
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    expect(r.stdout).not.toMatch(/✗/)
    expect(r.stdout).toContain('✓ Route requirement')
    expect(r.stdout).toContain('Result: VALID')
  })

  it('explains the first failing check with its detail and fix, the later ones not reached (exit 1)', async () => {
    const token = emu.mintToken({
      version: 1,
      audience: API.appIdUri,
      managedIdentity: 'night-vm',
      roles: ['Stocks.Read'],
    })
    const r = await run(
      [
        'inspect',
        '-',
        '--tenant',
        emu.tenantId,
        '--audience',
        API.clientId,
        '--authority',
        emu.authority,
        '--json',
      ],
      token,
    )
    expect(r.code).toBe(1)
    const json = JSON.parse(r.stdout) as {
      validation: {
        checks: { id: string; status: string }[]
        failure: { code: string; check: string; detail: string; fix: string }
      }
    }
    const status = Object.fromEntries(json.validation.checks.map((c) => [c.id, c.status]))
    expect(status).toMatchObject({
      format: 'pass',
      tenant: 'pass',
      audience: 'fail',
      metadata: 'not_reached',
      signature: 'not_reached',
    })
    expect(json.validation.failure.code).toBe('invalid_audience')
    expect(json.validation.failure.detail).toContain("aud is 'api://stock-api'")
    expect(json.validation.failure.fix).toContain('api://<your API>/.default')
  })

  it('exits 2 when the authority is unreachable (metadata_unavailable)', async () => {
    const token = emu.mintToken({
      version: 2,
      audience: API.clientId,
      managedIdentity: 'night-vm',
      roles: ['Stocks.Read'],
    })
    const port = await closedPort()
    const r = await run(
      [
        'inspect',
        '-',
        '--tenant',
        emu.tenantId,
        '--audience',
        API.clientId,
        '--authority',
        `http://127.0.0.1:${port}`,
      ],
      token,
    )
    expect(r.code).toBe(2)
    expect(r.stdout).toMatch(/✗ OpenID metadata and signing keys/)
    expect(r.stdout).toContain('metadata_unavailable (HTTP 503)')
  })
})

describe('entraguard inspect: --explain and usage', () => {
  it('prints an entry for --explain; an unknown command exits 2 with the usage', async () => {
    const [explained, noCommand] = await Promise.all([
      run(['inspect', '--explain', 'no_scope_or_role']),
      run(['frobnicate']),
    ])
    expect(explained.code).toBe(0)
    expect(explained.stdout).toMatch(/^## no_scope_or_role/)
    expect(explained.stdout).toContain('IDW10201')
    expect(noCommand.code).toBe(2)
    expect(noCommand.stderr).toContain("Unknown command 'frobnicate'")
    expect(noCommand.stderr).toContain('Usage:')
  })
})
