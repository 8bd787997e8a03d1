import { spawn } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import {
  discoverAuthorizationServerMetadata,
  discoverOAuthProtectedResourceMetadata,
  extractWWWAuthenticateParams,
} from '@modelcontextprotocol/sdk/client/auth.js'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  AGENT_VM,
  type Exchange,
  MCP_CLIENT_ID,
  type McpScenario,
  managedIdentityToken,
  recordingFetch,
  startMcpScenario,
  startMcpWithIssuerDown,
  TRADER_AGENT,
} from './support/mcp-scenario.js'

let s: McpScenario
let readerToken: string
let traderToken: string
beforeAll(async () => {
  s = await startMcpScenario()
  ;[readerToken, traderToken] = await Promise.all([
    managedIdentityToken(s.emu, `${s.resource}/.default`, AGENT_VM),
    managedIdentityToken(s.emu, `${s.resource}/.default`, TRADER_AGENT),
  ])
}, 60_000)
afterAll(async () => {
  await s?.close()
})

const metadataUrl = () => s.resource.replace('/mcp', '/.well-known/oauth-protected-resource/mcp')

/** An MCP SDK client over Streamable HTTP, with a bearer token or none, recording what goes over the wire. */
async function connect(token: string | undefined, log: Exchange[] = [], url = s.resource): Promise<Client> {
  const transport = new StreamableHTTPClientTransport(new URL(url), {
    fetch: recordingFetch(log),
    ...(token === undefined ? {} : { requestInit: { headers: { authorization: `Bearer ${token}` } } }),
  })
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(transport)
  return client
}

/** A raw JSON-RPC POST, for what the SDK client never sends (batches, odd bodies). */
function post(body: string, token: string | undefined, contentType = 'application/json') {
  return fetch(s.resource, {
    method: 'POST',
    headers: {
      'content-type': contentType,
      accept: 'application/json, text/event-stream',
      'mcp-protocol-version': '2025-06-18',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body,
  })
}

const call = (id: number, name: string, args: Record<string, unknown>) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
})

/** JSON-RPC messages of an SSE or JSON response body. */
function messagesOf(body: string): { id?: number; result?: Record<string, unknown>; error?: unknown }[] {
  if (body.startsWith('{') || body.startsWith('[')) return [JSON.parse(body)].flat()
  return body
    .split('\n')
    .filter((line) => line.startsWith('data: '))
    .map((line) => JSON.parse(line.slice(6)))
}

describe('the MCP example with the MCP SDK client over Streamable HTTP', () => {
  it('without a token: 401 pointing to the metadata, which names the authorization server and scopes', async () => {
    const log: Exchange[] = []
    await expect(connect(undefined, log)).rejects.toMatchObject({ code: 401 })
    const refused = log.at(-1)
    expect(refused?.response.status).toBe(401)
    expect(refused?.response.headers['www-authenticate']).toBe(`Bearer resource_metadata="${metadataUrl()}"`)

    // What an MCP client does next, with the SDK's own discovery functions.
    const challenge = extractWWWAuthenticateParams(
      new Response(null, { status: 401, headers: refused?.response.headers ?? {} }),
    )
    expect(challenge.resourceMetadataUrl?.href).toBe(metadataUrl())
    const document = await discoverOAuthProtectedResourceMetadata(new URL(s.resource), {
      resourceMetadataUrl: challenge.resourceMetadataUrl as URL,
    })
    const issuer = `${s.emu.authority}/${s.emu.tenantId}/v2.0`
    expect(document).toEqual({
      resource: s.resource,
      authorization_servers: [issuer],
      scopes_supported: [`${s.resource}/Stocks.Read`, `${s.resource}/Stocks.Write`],
      bearer_methods_supported: ['header'],
      resource_name: 'Stock quotes',
    })
    // The emulator serves Entra's OpenID configuration (its issuer names login.microsoftonline.com, as Entra's does).
    const server = await discoverAuthorizationServerMetadata(document.authorization_servers?.[0] as string)
    expect(server?.issuer).toMatch(new RegExp(`/${s.emu.tenantId}/v2\\.0$`))
    expect(server?.token_endpoint?.startsWith(`${s.emu.authority}/${s.emu.tenantId}/`)).toBe(true)
    if (process.env.MCP_TRANSCRIPT) {
      writeFileSync(`${process.env.MCP_TRANSCRIPT}.401.json`, JSON.stringify({ refused, document }, null, 2))
    }
  })

  it('a managed-identity token from IMDS (@azure/identity) lists the tools and calls get_quote', async () => {
    const log: Exchange[] = []
    const client = await connect(readerToken, log)
    try {
      const { tools } = await client.listTools()
      expect(tools.map((t) => t.name)).toEqual(['get_quote', 'trade'])
      const result = await client.callTool({ name: 'get_quote', arguments: { symbol: 'msft' } })
      expect(result.structuredContent).toEqual({ symbol: 'MSFT', price: 512.3 })
      const allowed = s.events.filter((e) => e.type === 'access.allowed' && e.resource === 'tool:get_quote')
      expect(allowed.at(-1)).toMatchObject({ clientId: AGENT_VM, action: 'tools/call', route: '/mcp' })
    } finally {
      await client.close()
    }
    if (process.env.MCP_TRANSCRIPT)
      writeFileSync(`${process.env.MCP_TRANSCRIPT}.call.json`, JSON.stringify(log, null, 2))
  })

  it('trade is refused with 403 insufficient_scope naming <App ID URI>/Stocks.Write', async () => {
    const log: Exchange[] = []
    const client = await connect(readerToken, log)
    try {
      await expect(
        client.callTool({
          name: 'trade',
          arguments: { symbol: 'MSFT', quantity: 1, side: 'buy', portfolio: 'agents' },
        }),
      ).rejects.toMatchObject({ code: 403 })
    } finally {
      await client.close()
    }
    const refused = log.find((x) => x.response.status === 403)
    expect(refused?.response.headers['www-authenticate']).toBe(
      `Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="${s.resource}/Stocks.Write", resource_metadata="${metadataUrl()}"`,
    )
    expect(JSON.parse(refused?.response.body ?? '')).toEqual({
      error: 'insufficient_scope',
      error_description: 'The token lacks the required role',
    })
    expect(s.events.filter((e) => e.type === 'access.denied').at(-1)).toMatchObject({
      clientId: AGENT_VM,
      code: 'insufficient_scope',
      action: 'tools/call',
      resource: 'tool:trade',
    })
  })

  it('an expired token gets 401 invalid_token', async () => {
    const expired = s.emu.mintToken({
      managedIdentity: 'agent-vm',
      audience: MCP_CLIENT_ID,
      version: 2,
      roles: ['Stocks.Read'],
      expiresIn: -600,
    })
    const log: Exchange[] = []
    await expect(connect(expired, log)).rejects.toMatchObject({ code: 401 })
    expect(log.at(-1)?.response.headers['www-authenticate']).toMatch(
      new RegExp(
        `^Bearer error="invalid_token", error_description="[^"]+", resource_metadata="${metadataUrl()}"$`,
      ),
    )
  })

  it('a JSON-RPC batch holding a refused call is refused whole; an allowed batch runs', async () => {
    const refused = await post(
      JSON.stringify([call(1, 'get_quote', { symbol: 'MSFT' }), call(2, 'trade', { symbol: 'MSFT' })]),
      readerToken,
    )
    expect(refused.status).toBe(403)
    expect(refused.headers.get('www-authenticate')).toContain(`scope="${s.resource}/Stocks.Write"`)
    expect(await refused.json()).toEqual({
      error: 'insufficient_scope',
      error_description: 'The token lacks the required role',
    })

    const allowed = await post(
      JSON.stringify([call(1, 'get_quote', { symbol: 'MSFT' }), call(2, 'get_quote', { symbol: 'NVDA' })]),
      readerToken,
    )
    expect(allowed.status).toBe(200)
    const results = messagesOf(await allowed.text())
    expect(results.map((m) => [m.id, m.result?.structuredContent])).toEqual([
      [1, { symbol: 'MSFT', price: 512.3 }],
      [2, { symbol: 'NVDA', price: 182.4 }],
    ])
  })

  it('inside the tool, the portfolio policy allows one portfolio and refuses another as a JSON-RPC error', async () => {
    const client = await connect(traderToken)
    try {
      const order = await client.callTool({
        name: 'trade',
        arguments: { symbol: 'NVDA', quantity: 5, side: 'buy', portfolio: 'agents' },
      })
      expect(order.structuredContent).toMatchObject({ portfolio: 'agents', quantity: 5, by: TRADER_AGENT })
      await expect(
        client.callTool({
          name: 'trade',
          arguments: { symbol: 'NVDA', quantity: 5, side: 'buy', portfolio: 'family' },
        }),
      ).rejects.toMatchObject({ code: -32003, data: { error: 'forbidden' } })
    } finally {
      await client.close()
    }
    expect(s.events.filter((e) => e.type === 'access.denied').at(-1)).toMatchObject({
      clientId: TRADER_AGENT,
      code: 'forbidden',
      action: 'stocks/trade',
      resource: '/portfolios/family',
      route: '/mcp',
    })
  })

  it('odd bodies do not crash it: non-object batch members reach the SDK, a non-JSON type gets 415', async () => {
    const odd = await post('[1, null, "x", {"method": "tools/call", "params": null}]', readerToken)
    expect(odd.status).toBe(400)
    expect(JSON.stringify(await odd.json())).toContain('"jsonrpc":"2.0"')
    const text = await post('{"jsonrpc":"2.0"}', readerToken, 'text/plain')
    expect(text.status).toBe(415)
    const anonymous = await post('[1]', undefined, 'text/plain')
    expect(anonymous.status).toBe(401)
  })

  it('an issuer outage is 503 with Retry-After, never 500', async () => {
    const down = await startMcpWithIssuerDown(s.emu.tenantId)
    try {
      const log: Exchange[] = []
      const started = Date.now()
      await expect(connect(readerToken, log, down.resource)).rejects.toMatchObject({ code: 503 })
      expect(Date.now() - started).toBeLessThan(10_000)
      expect(log.at(-1)?.response.status).toBe(503)
      expect(Number(log.at(-1)?.response.headers['retry-after'])).toBeGreaterThan(0)
      expect(log.at(-1)?.response.headers['www-authenticate']).toBeUndefined()
    } finally {
      await down.close()
    }
  })
})

describe('the token behind the MCP app', () => {
  it('is a v2 token for the client ID although the client asked for the App ID URI', async () => {
    const principal = await s.validator.validate(readerToken)
    expect(principal.tokenVersion).toBe(2)
    expect(principal.claims.aud).toBe(MCP_CLIENT_ID)
    expect(principal).toMatchObject({
      identityType: 'app',
      clientId: AGENT_VM,
      roles: ['Stocks.Read'],
      scopes: [],
    })
  })
})

describe('examples/mcp-server/main.ts, started as a user would', () => {
  it('prints its address, challenges without a token, serves the metadata and answers tools/list', async () => {
    const root = fileURLToPath(new URL('..', import.meta.url))
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--import', 'tsx', 'examples/mcp-server/main.ts'],
      {
        cwd: root,
        env: {
          ...process.env,
          TENANT_ID: s.emu.tenantId,
          API_AUDIENCE: MCP_CLIENT_ID,
          AUTHORITY: s.emu.authority,
          PORT: '0',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    )
    try {
      const base = await new Promise<string>((resolve, reject) => {
        let output = ''
        const timer = setTimeout(() => reject(new Error(`main.ts did not start: ${output}`)), 15_000)
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString()
          const match = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output)
          if (match) {
            clearTimeout(timer)
            resolve(match[1] as string)
          }
        })
        child.once('exit', (code) => {
          clearTimeout(timer)
          reject(new Error(`main.ts exited with ${code}: ${output}`))
        })
      })
      const anonymous = await fetch(`${base}/mcp`, { method: 'POST' })
      const metadata = `${base}/.well-known/oauth-protected-resource/mcp`
      expect(anonymous.status).toBe(401)
      expect(anonymous.headers.get('www-authenticate')).toBe(`Bearer resource_metadata="${metadata}"`)
      expect(await (await fetch(metadata)).json()).toMatchObject({ resource: `${base}/mcp` })
      const token = s.emu.mintToken({ managedIdentity: 'agent-vm', audience: MCP_CLIENT_ID, version: 2 })
      const client = await connect(token, [], `${base}/mcp`)
      expect((await client.listTools()).tools).toHaveLength(2)
      await client.close()
    } finally {
      child.kill()
    }
  })
})
