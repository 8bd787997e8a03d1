import { execFile } from 'node:child_process'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { AuthEvent, Validator } from '@entraguard/core'
import { createValidator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { createMcpApp } from '../../examples/mcp-server/app.js'

export const MCP_CLIENT_ID = '0c1d2e3f-4a5b-4c6d-8e7f-901a2b3c4d5e'
export const AGENT_VM = '5c4d0f6b-3e4a-4b1d-8d88-5c6f7a8b9ca3'
export const TRADER_AGENT = '6d5e1a7c-4f5b-4c2e-9e99-6d7a8b9cadb4'

/** An MCP server of the example, listening on 127.0.0.1, with the emulator that issues its tokens. */
export interface McpScenario {
  emu: Emulator
  validator: Validator
  /** The App ID URI and MCP endpoint: `http://127.0.0.1:<port>/mcp`. */
  resource: string
  events: AuthEvent[]
  close(): Promise<void>
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  )
}

/**
 * Starts the example's MCP server and an emulator whose MCP app has the server's URL as App ID URI and
 * accepts v2 tokens (Entra's MCP guidance), an agent VM with Stocks.Read and a trading agent with both roles.
 */
export async function startMcpScenario(): Promise<McpScenario> {
  const server = createServer()
  const port = await listen(server)
  const resource = `http://127.0.0.1:${port}/mcp`
  const emu = await startEmulator({
    apps: [
      {
        name: 'stock-mcp',
        clientId: MCP_CLIENT_ID,
        appIdUri: resource,
        appRoles: ['Stocks.Read', 'Stocks.Write'],
        scopes: ['Stocks.Read', 'Stocks.Write'],
        accessTokenAcceptedVersion: 2,
      },
    ],
    identities: [
      { name: 'agent-vm', clientId: AGENT_VM, appRoleAssignments: [{ app: resource, role: 'Stocks.Read' }] },
      {
        name: 'trader-agent',
        clientId: TRADER_AGENT,
        appRoleAssignments: [
          { app: resource, role: 'Stocks.Read' },
          { app: resource, role: 'Stocks.Write' },
        ],
      },
    ],
  })
  const events: AuthEvent[] = []
  const validator = createValidator({
    tenant: emu.tenantId,
    audience: [MCP_CLIENT_ID],
    tokenVersions: [2],
    authority: emu.authority,
    resourceMetadata: { resource, scopes: ['Stocks.Read', 'Stocks.Write'], resourceName: 'Stock quotes' },
    onEvent: (event) => events.push(event),
  })
  server.on('request', createMcpApp(validator))
  return {
    emu,
    validator,
    resource,
    events,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      validator.close()
      await emu.close()
    },
  }
}

/** The example's MCP server with a validator whose issuer is down (a closed loopback port). */
export async function startMcpWithIssuerDown(
  tenant: string,
): Promise<{ resource: string; close(): Promise<void> }> {
  const dead = createServer()
  const deadPort = await listen(dead)
  await new Promise((resolve) => dead.close(resolve))
  const server = createServer()
  const port = await listen(server)
  const resource = `http://127.0.0.1:${port}/mcp`
  const validator = createValidator({
    tenant,
    audience: [MCP_CLIENT_ID],
    tokenVersions: [2],
    authority: `http://127.0.0.1:${deadPort}`,
    jwks: { timeout: 1_000 },
    resourceMetadata: { resource, scopes: ['Stocks.Read'] },
  })
  server.on('request', createMcpApp(validator))
  return {
    resource,
    async close() {
      server.closeAllConnections()
      await new Promise((resolve) => server.close(resolve))
      validator.close()
    },
  }
}

const getTokenScript = fileURLToPath(new URL('./clients/get-token.mjs', import.meta.url))

/**
 * A managed-identity token for `scope` from the emulator's IMDS endpoint, got by @azure/identity's
 * ManagedIdentityCredential in a child process (it fixes its identity source per process).
 */
export function managedIdentityToken(emu: Emulator, scope: string, clientId: string): Promise<string> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(k)) env[k] = v
  }
  Object.assign(env, { NO_PROXY: '127.0.0.1,localhost', AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint })
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [getTokenScript, 'mi', scope, clientId],
      { env, timeout: 40_000 },
      (err, stdout) => {
        const out = stdout ? (JSON.parse(stdout) as { token?: string; error?: string }) : undefined
        if (out?.token !== undefined) resolve(out.token)
        else reject(new Error(out?.error ?? String(err)))
      },
    )
  })
}

/** One HTTP exchange seen by the MCP client, with the Authorization header redacted. */
export interface Exchange {
  request: { method: string; url: string; headers: Record<string, string>; body?: unknown }
  response: { status: number; headers: Record<string, string>; body: string }
}

/** A fetch for the SDK's client transport that records every exchange (never the token). */
export function recordingFetch(log: Exchange[]): typeof fetch {
  return async (input, init) => {
    const request = new Request(input, init)
    const requestBody = request.body === null ? undefined : await request.clone().text()
    const response = await fetch(request)
    const headers: Record<string, string> = {}
    request.headers.forEach((value, name) => {
      headers[name] = name === 'authorization' ? `${value.split(' ')[0]} <redacted>` : value
    })
    const responseHeaders: Record<string, string> = {}
    response.headers.forEach((value, name) => {
      responseHeaders[name] = value
    })
    log.push({
      request: {
        method: request.method,
        url: request.url,
        headers,
        ...(requestBody === undefined || requestBody === '' ? {} : { body: JSON.parse(requestBody) }),
      },
      response: { status: response.status, headers: responseHeaders, body: await response.clone().text() },
    })
    return response
  }
}
