import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const here = fileURLToPath(new URL('.', import.meta.url))
let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({
    apps: [
      {
        clientId: '6e74172b-be56-4843-9ff4-e66a39bb12e3',
        appIdUri: 'api://stock-api',
        appRoles: ['Stocks.Read', 'Stocks.Write'],
        scopes: ['Stocks.Read'],
      },
    ],
    identities: [{ name: 'vm', appRoleAssignments: [{ app: 'api://stock-api', role: 'Stocks.Read' }] }],
  })
})
afterAll(async () => {
  await emu.close()
})

/** Starts an example as a user would (node + TypeScript loader), on port 0, and waits for its address. */
function startExample(
  file: string,
  env: Record<string, string>,
): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', file], {
    cwd: here,
    env: {
      ...process.env,
      TENANT_ID: emu.tenantId,
      API_AUDIENCE: 'api://stock-api',
      AUTHORITY: emu.authority,
      PORT: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`${file} did not start: ${output}`))
    }, 15_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve({ base: match[1] as string, child })
      }
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${file} exited with ${code}: ${output}`))
    })
  })
}

describe.each([
  ['minimal-express.ts', {}],
  ['minimal-fastify.ts', {}],
  ['stock-api/main.ts', { FRAMEWORK: 'express' }],
  ['stock-api/main.ts', { FRAMEWORK: 'fastify' }],
  ['minimal-nestjs.ts', {}],
  ['minimal-hono.ts', {}],
  ['minimal-fetch.ts', {}],
  ['minimal-azure-functions.ts', {}],
  ['stock-api/main.ts', { FRAMEWORK: 'nestjs' }],
])('example %s %j', (file, env) => {
  it('serves health, admits a VM with the role, refuses without a token', async () => {
    const { base, child } = await startExample(file, env as Record<string, string>)
    try {
      expect((await fetch(`${base}/health`)).status).toBe(200)
      const token = emu.mintToken({ managedIdentity: 'vm', audience: 'api://stock-api' })
      const ok = await fetch(`${base}/stocks`, { headers: { authorization: `Bearer ${token}` } })
      expect(ok.status).toBe(200)
      const anonymous = await fetch(`${base}/stocks`)
      expect(anonymous.status).toBe(401)
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer')
    } finally {
      child.kill()
    }
  })
})

describe('pnpm demo', () => {
  it.each(['express', 'fastify', 'nestjs'])(
    'on %s: runs the whole story and exits 0 with every status as expected',
    async (server) => {
      const child = spawn(
        process.execPath,
        ['--conditions=source', '--import', 'tsx', 'demo.ts', '--server', server],
        {
          cwd: here,
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      )
      let output = ''
      child.stdout.on('data', (c: Buffer) => {
        output += c.toString()
      })
      child.stderr.on('data', (c: Buffer) => {
        output += c.toString()
      })
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve))
      expect(output).toContain('demo passed: 21 calls')
      expect(output).toContain(`call the stock API on ${server}`)
      expect(code).toBe(0)
    },
    60_000,
  )
})
