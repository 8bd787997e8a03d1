import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AuthEvent, createPolicy, createValidator, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { requireMcpAuth, requireToolPermission } from '@entraguard/mcp'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const API = '1f0e2d3c-4b5a-4978-8675-a4b3c2d1e0f9'
const RESOURCE = 'https://mcp.contoso.com/mcp'
let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator({
    apps: [
      {
        clientId: API,
        appIdUri: RESOURCE,
        appRoles: ['Tools.Run', 'Tools.Admin'],
        accessTokenAcceptedVersion: 2,
      },
    ],
  })
  validator = createValidator({
    tenant: emu.tenantId,
    audience: [API],
    tokenVersions: [2],
    authority: emu.authority,
    resourceMetadata: { resource: RESOURCE, scopes: ['Tools.Run'] },
    onEvent: (e) => events.push(e),
  })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

const policy = createPolicy({
  roles: { Admin: { actions: ['tools/*'] } },
  assignments: [{ role: 'Admin', appRole: 'Tools.Admin' }],
})

async function serve(app: express.Express): Promise<{ base: string; close(): Promise<void> }> {
  const server: Server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

describe('requireMcpAuth({ reportOnly: true })', () => {
  it('reports refused tokens and tools, and lets the request reach the transport', async () => {
    const app = express()
    app.post(
      '/mcp',
      express.json(),
      requireMcpAuth({ validator, reportOnly: true, tools: { purge: { roles: ['Tools.Admin'] } } }),
      (req, res) => {
        const auth = (req as unknown as { auth?: AuthInfo }).auth
        let permitted = 'no principal'
        if (auth !== undefined) {
          // Inside the tool: a policy denial is reported too, not thrown.
          requireToolPermission({ authInfo: auth }, policy, 'tools/purge', '/tools/purge')
          permitted = 'ran'
        }
        res.json({ authenticated: auth !== undefined, permitted })
      },
    )
    const { base, close } = await serve(app)
    const call = async (authorization?: string) => {
      events.length = 0
      const reply = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'purge' } }),
      })
      const reports = events.filter(
        (e) => e.type.includes('would_') || e.type.endsWith('denied') || e.type.endsWith('rejected'),
      )
      return { status: reply.status, body: await reply.json(), reports: reports.map((e) => [e.type, e.code]) }
    }
    try {
      const runner = await call(
        `Bearer ${emu.mintToken({ audience: API, version: 2, roles: ['Tools.Run'] })}`,
      )
      expect(runner).toEqual({
        status: 200,
        body: { authenticated: true, permitted: 'ran' },
        reports: [
          ['access.would_deny', 'insufficient_scope'],
          ['access.would_deny', 'forbidden'],
        ],
      })
      expect(await call()).toEqual({
        status: 200,
        body: { authenticated: false, permitted: 'no principal' },
        reports: [['token.would_reject', 'missing_token']],
      })
      expect((await call('Bearer x.y.z')).reports).toEqual([['token.would_reject', 'malformed_token']])
    } finally {
      await close()
    }
  })
})
