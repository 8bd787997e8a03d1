import { type ChildProcess, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { Emulator, MintOptions } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningApi, startScenarioApi } from '../support/apps.js'
import { type Reply, send } from '../support/http.js'
import { API_CLIENT_ID, API_URI, startScenarioEmulator } from '../support/scenario.js'

// vitest aliases @entraguard/nestjs to packages/nestjs/src, which resolves Nest 12; the Nest 11 app runs as a
// child process from this folder, so it resolves through the injected copy (peers on Nest 11).
const here = fileURLToPath(new URL('.', import.meta.url))

interface Served {
  base: string
  version: string
  output: () => string
  child: ChildProcess
}

function serve(platform: 'express' | 'fastify', emu: Emulator, authority = emu.authority): Promise<Served> {
  const child = spawn(process.execPath, ['--conditions=source', '--import', 'tsx', 'serve.ts'], {
    cwd: here,
    env: { ...process.env, TENANT_ID: emu.tenantId, AUTHORITY: authority, PLATFORM: platform },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`serve.ts did not start: ${output}`))
    }, 15_000)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const match = /nest (\S+) \(\w+\) listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
      if (match) {
        clearTimeout(timer)
        resolve({ version: match[1] as string, base: match[2] as string, output: () => output, child })
      }
    }
    child.stdout.on('data', onData)
    child.stderr.on('data', onData)
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`serve.ts exited with ${code}: ${output}`))
    })
  })
}

const reader: MintOptions = { managedIdentity: 'reader-vm', audience: API_URI }
const trader: MintOptions = { managedIdentity: 'trader-vm', audience: API_URI }
const user: MintOptions = { audience: API_URI, identity: 'user', scopes: ['Stocks.Read'] }

/** Cases covering every kind of answer; each one is sent with the same headers to Nest 11 and to Express. */
const cases: {
  name: string
  method?: string
  path: string
  mint?: MintOptions
  header?: string | string[]
}[] = [
  { name: 'public route', path: '/health' },
  { name: 'no token', path: '/stocks' },
  { name: 'another scheme', path: '/stocks', header: 'Basic dXNlcjpwYXNz' },
  { name: 'two Authorization headers', path: '/stocks', header: ['Bearer a.b.c', 'Bearer d.e.f'] },
  { name: 'garbage token', path: '/stocks', header: 'Bearer not.a.jwt' },
  { name: 'expired token', path: '/stocks', mint: { ...reader, expiresIn: -600 } },
  { name: 'reader reads', path: '/stocks', mint: reader },
  { name: 'reader cannot write', method: 'POST', path: '/stocks', mint: reader },
  { name: 'unassigned VM', path: '/whoami', mint: { managedIdentity: 'idle-vm', audience: API_URI } },
  { name: 'user with the scope', path: '/me', mint: user },
  { name: 'app token on a scope route', path: '/me', mint: reader },
  { name: 'scope-or-role: app', path: '/quotes', mint: reader },
  { name: 'permission granted', method: 'DELETE', path: '/portfolios/contoso/stocks/AAPL', mint: trader },
  { name: 'permission denied', method: 'DELETE', path: '/portfolios/fabrikam/stocks/AAPL', mint: trader },
  { name: 'token in query and header', path: '/stocks?access_token=abc', mint: reader },
]

/** What must be identical across adapters: status, the auth headers, content type and body. */
function answer(reply: Reply) {
  const { status, headers, body } = reply
  const type = status === 204 ? undefined : headers['content-type']
  return {
    status,
    challenge: headers['www-authenticate'],
    retryAfter: headers['retry-after'],
    type,
    body: body === '' ? undefined : reply.json(),
  }
}

let emu: Emulator
let express: RunningApi
beforeAll(async () => {
  emu = await startScenarioEmulator()
  express = await startScenarioApi('express5', emu, [API_URI, API_CLIENT_ID])
})
afterAll(async () => {
  await express?.close()
  await emu?.close()
})

describe.each(['express', 'fastify'] as const)('@entraguard/nestjs on NestJS 11, platform-%s', (platform) => {
  let nest: Served
  beforeAll(async () => {
    nest = await serve(platform, emu)
  })
  afterAll(() => {
    nest?.child.kill()
  })

  it('runs on @nestjs/core 11', () => {
    expect(nest.version).toMatch(/^11\./)
  })

  it.each(cases)('$name: answers exactly like Express', async (c) => {
    const authorization = c.mint === undefined ? c.header : `Bearer ${emu.mintToken(c.mint)}`
    const options = {
      method: c.method ?? 'GET',
      headers: authorization === undefined ? {} : { authorization },
    }
    const [fromNest, fromExpress] = await Promise.all([
      send(nest.base, c.path, options),
      send(express.base, c.path, options),
    ])
    expect(answer(fromNest)).toEqual(answer(fromExpress))
  })

  it('reports the route pattern in audit events', async () => {
    await send(nest.base, '/portfolios/contoso/stocks/MSFT', {
      method: 'DELETE',
      headers: { authorization: `Bearer ${emu.mintToken(trader)}` },
    })
    await expect
      .poll(() => nest.output())
      .toContain(
        'event {"type":"access.allowed","method":"DELETE","route":"/portfolios/:name/stocks/:symbol"}',
      )
  })

  it('starts with the issuer down and answers 503 with Retry-After', async () => {
    const down = await serve(platform, emu, 'http://127.0.0.1:1')
    try {
      const reply = await send(down.base, '/stocks', {
        headers: { authorization: `Bearer ${emu.mintToken(reader)}` },
      })
      expect(reply.status).toBe(503)
      expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      expect(reply.headers['www-authenticate']).toBeUndefined()
      expect(reply.json()).toEqual({ error: 'metadata_unavailable', error_description: expect.any(String) })
    } finally {
      down.child.kill()
    }
  })
})
