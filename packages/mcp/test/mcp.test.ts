import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  AuthError,
  ConfigurationError,
  createPolicy,
  createValidator,
  type Validator,
} from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import {
  calledTools,
  getPrincipal,
  mcpTokenVerifier,
  requireMcpAuth,
  requireToolPermission,
  resourceMetadataHandler,
  TOOL_ACCESS_DENIED,
  ToolAccessError,
} from '@entraguard/mcp'
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import express from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const API = '1f0e2d3c-4b5a-4978-8675-a4b3c2d1e0f9'
const RESOURCE = 'https://mcp.contoso.com/mcp'
let emu: Emulator
let validator: Validator
beforeAll(async () => {
  emu = await startEmulator({
    apps: [{ clientId: API, appIdUri: RESOURCE, appRoles: ['Tools.Run'], accessTokenAcceptedVersion: 2 }],
  })
  validator = createValidator({
    tenant: emu.tenantId,
    audience: [API],
    tokenVersions: [2],
    authority: emu.authority,
    resourceMetadata: { resource: RESOURCE, scopes: ['Tools.Run'] },
  })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

async function serve(app: express.Express): Promise<{ base: string; close(): Promise<void> }> {
  const server: Server = createServer(app)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

const token = (o: Parameters<Emulator['mintToken']>[0] = {}) =>
  emu.mintToken({ audience: API, version: 2, roles: ['Tools.Run'], ...o })

describe('calledTools', () => {
  it('finds tools/call names in single messages and batches, and ignores everything else', () => {
    const c = (name: unknown) => ({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name } })
    expect(calledTools(c('a'))).toEqual(['a'])
    expect(calledTools([c('a'), { method: 'tools/list' }, c('b'), c(7), null, 3, 'x', []])).toEqual([
      'a',
      'b',
    ])
    for (const odd of [
      undefined,
      null,
      'tools/call',
      42,
      { method: 'tools/call' },
      { method: 'tools/call', params: 'a' },
    ])
      expect(calledTools(odd)).toEqual([])
  })
})

describe('requireMcpAuth', () => {
  it('sets req.auth to the SDK AuthInfo with the principal reachable', async () => {
    const app = express()
    let seen: AuthInfo | undefined
    app.post(
      '/mcp',
      express.json(),
      requireMcpAuth({ validator, tools: { run: { roles: ['Tools.Run'] } } }),
      (req, res) => {
        seen = (req as unknown as { auth: AuthInfo }).auth
        res.json({ ok: true })
      },
    )
    const { base, close } = await serve(app)
    try {
      const t = token()
      const reply = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${t}`, 'content-type': 'application/json' },
        body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'run' } }),
      })
      expect(reply.status).toBe(200)
      const principal = getPrincipal(seen)
      expect(seen).toMatchObject({ token: t, clientId: principal.clientId, scopes: [] })
      expect(seen?.expiresAt).toBe(principal.claims.exp)
      expect(Number.isInteger(seen?.expiresAt)).toBe(true)
      expect(seen?.resource?.href).toBe(RESOURCE)
    } finally {
      await close()
    }
  })

  it('refuses to start without resourceMetadata, and a tools check without a parsed body fails closed', async () => {
    const plain = createValidator({ tenant: emu.tenantId, audience: [API], authority: emu.authority })
    expect(() => requireMcpAuth({ validator: plain })).toThrow(ConfigurationError)
    plain.close()
    const app = express()
    app.post('/mcp', requireMcpAuth({ validator, tools: { run: { roles: ['Tools.Run'] } } }), (_req, res) => {
      res.json({ reached: true })
    })
    app.use((err: Error, _req: express.Request, res: express.Response, _next: express.NextFunction) => {
      res.status(500).json({ message: err.message })
    })
    const { base, close } = await serve(app)
    try {
      const reply = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}`, 'content-type': 'application/json' },
        body: '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"run"}}',
      })
      expect(reply.status).toBe(500)
      expect(((await reply.json()) as { message: string }).message).toContain('express.json()')
    } finally {
      await close()
    }
  })

  it('checks the endpoint requirement on every request', async () => {
    const app = express()
    app.use(
      '/mcp',
      express.json(),
      requireMcpAuth({ validator, requirement: { roles: ['Admin'] } }),
      (_req, res) => {
        res.json({ reached: true })
      },
    )
    const { base, close } = await serve(app)
    try {
      const reply = await fetch(`${base}/mcp`, { headers: { authorization: `Bearer ${token()}` } })
      expect(reply.status).toBe(403)
      expect(reply.headers.get('www-authenticate')).toBe(
        `Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="${RESOURCE}/Admin", resource_metadata="https://mcp.contoso.com/.well-known/oauth-protected-resource/mcp"`,
      )
    } finally {
      await close()
    }
  })
})

describe('resourceMetadataHandler', () => {
  it('serves the document at the path form and the root form, with CORS', async () => {
    const app = express()
    app.use(resourceMetadataHandler(validator))
    const { base, close } = await serve(app)
    try {
      for (const path of [
        '/.well-known/oauth-protected-resource/mcp',
        '/.well-known/oauth-protected-resource',
      ]) {
        const reply = await fetch(`${base}${path}`)
        expect(reply.status).toBe(200)
        expect(reply.headers.get('access-control-allow-origin')).toBe('*')
        expect(await reply.text()).toBe(JSON.stringify(validator.resourceMetadata?.document))
      }
      expect((await fetch(`${base}/other`)).status).toBe(404)
    } finally {
      await close()
    }
  })
})

describe('requireToolPermission', () => {
  it('throws a ToolAccessError carrying the forbidden refusal, and passes an allowed call', async () => {
    const policy = createPolicy({
      roles: { Runner: { actions: ['tools/run'] } },
      assignments: [{ role: 'Runner', appRole: 'Tools.Run', scope: '/projects/a' }],
    })
    const verifier = mcpTokenVerifier(validator)
    const authInfo = await verifier.verifyAccessToken(token())
    const extra = { authInfo, requestInfo: { url: new URL(`${RESOURCE}?x=1`) } }
    expect(() => requireToolPermission(extra, policy, 'tools/run', '/projects/a/x')).not.toThrow()
    let thrown: unknown
    try {
      requireToolPermission(extra, policy, 'tools/run', '/projects/b')
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(ToolAccessError)
    expect(thrown).toMatchObject({ code: TOOL_ACCESS_DENIED, data: { error: 'forbidden' } })
    expect((thrown as ToolAccessError).authError).toBeInstanceOf(AuthError)
    expect(() => getPrincipal(undefined)).toThrow(/requireMcpAuth/)
  })
})

describe('mcpTokenVerifier behind the SDK requireBearerAuth', () => {
  it('admits a valid token; a bad one is 401 invalid_token; an outage is the SDK 500 (its gap)', async () => {
    const down = createValidator({
      tenant: emu.tenantId,
      audience: [API],
      authority: 'http://127.0.0.1:9',
      jwks: { timeout: 500 },
      resourceMetadata: { resource: RESOURCE },
    })
    const app = express()
    const guard = (v: Validator) =>
      requireBearerAuth({ verifier: mcpTokenVerifier(v), expectedResource: new URL(RESOURCE) })
    app.post('/mcp', guard(validator), (req, res) => {
      // In this repository @entraguard/express types req.auth as a Principal; the SDK sets an AuthInfo.
      const auth = (req as unknown as { auth?: AuthInfo }).auth
      res.json({ clientId: auth?.clientId, resource: auth?.resource?.href })
    })
    app.post('/down', guard(down), (_req, res) => {
      res.json({ reached: true })
    })
    const { base, close } = await serve(app)
    try {
      const ok = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}` },
      })
      expect(ok.status).toBe(200)
      expect(await ok.json()).toMatchObject({ resource: RESOURCE })
      const expired = await fetch(`${base}/mcp`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token({ expiresIn: -600 })}` },
      })
      expect(expired.status).toBe(401)
      expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer error="invalid_token"/)
      const outage = await fetch(`${base}/down`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token()}` },
      })
      expect(outage.status).toBe(500)
      expect(outage.headers.get('retry-after')).toBeNull()
    } finally {
      await close()
      down.close()
    }
  })
})
