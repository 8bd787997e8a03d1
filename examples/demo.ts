// `pnpm demo`: the whole story on one machine, with no Azure account.
// An emulated Entra ID + IMDS serves managed-identity tokens; VMs get them through the real
// @azure/identity client, an AKS pod through workload identity, and they call the stock-tracking API,
// which allows or denies by app role and RBAC. Then a role is assigned while everything runs, and shows
// only once IMDS's token cache lets go of the old token.
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type AuthEvent, createValidator, loadPolicy } from '@entraguard/core'
import { startEmulator } from '@entraguard/emulator'
import { Client } from '@modelcontextprotocol/sdk/client/index.js'
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js'
import { createMcpApp } from './mcp-server/app.js'
import { createExpressStockApi } from './stock-api/express-app.js'
import { createFastifyStockApi } from './stock-api/fastify-app.js'
import { createNestStockApi } from './stock-api/nest-app.js'

// `pnpm demo --server fastify|nestjs` runs the same story against the stock API on another framework.
const at = process.argv.indexOf('--server')
const framework = at === -1 ? 'express' : process.argv[at + 1]
if (framework !== 'express' && framework !== 'fastify' && framework !== 'nestjs') {
  console.error(`demo: --server takes express, fastify or nestjs, not ${framework}`)
  process.exit(2)
}

const deadline = setTimeout(() => {
  console.error('demo: did not finish within 60 s')
  process.exit(1)
}, 60_000)
deadline.unref()

// The managed-identity source of @azure/identity is fixed by the first call in a process, from these
// variables: clear the ones that would divert it, then point IMDS at the emulator.
for (const name of [
  'IDENTITY_ENDPOINT',
  'IDENTITY_HEADER',
  'MSI_ENDPOINT',
  'MSI_SECRET',
  'IMDS_ENDPOINT',
  'AZURE_FEDERATED_TOKEN_FILE',
  'AZURE_CLIENT_ID',
]) {
  delete process.env[name]
}

const config = JSON.parse(await readFile(new URL('./stock-api/emulator.json', import.meta.url), 'utf8'))
// https, as workload identity's client requires; IMDS stays plain http, as on Azure. IMDS reuses a token
// for 1 s here (about 24 h on Azure), so the role change below shows within the demo.
const emu = await startEmulator({ ...config, https: true, imdsTokenCache: { lifetime: 1 } })
process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = emu.imdsEndpoint
process.env.AZURE_TOKEN_CREDENTIALS = 'ManagedIdentityCredential'
process.env.NO_PROXY = '127.0.0.1,localhost'
const { DefaultAzureCredential, ManagedIdentityCredential } = await import('@azure/identity')

const events: AuthEvent[] = []
const validator = createValidator({
  tenant: 'contoso.onmicrosoft.com',
  audience: ['api://stock-api', '6e74172b-be56-4843-9ff4-e66a39bb12e3'],
  // The same directory over the emulator's plain-http listener: this process cannot be given its certificate.
  authority: emu.httpAuthority,
  // Entra publishes new keys well before it signs with them; the emulator switches at once, so let an
  // unknown kid trigger a refresh after 1 s instead of the production 5 minutes.
  jwks: { cooldown: 1_000 },
  onEvent: (e) => events.push(e),
})
await validator.warm()
const policy = await loadPolicy(new URL('./stock-api/policy.json', import.meta.url))
const server = await startStockApi()
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

async function startStockApi(): Promise<{ address(): unknown; close(): unknown }> {
  if (framework === 'fastify') {
    const app = await createFastifyStockApi(validator, policy)
    await app.listen({ port: 0, host: '127.0.0.1' })
    return { address: () => app.server.address(), close: () => app.close() }
  }
  if (framework === 'nestjs') {
    const app = await createNestStockApi(validator, policy)
    await app.listen(0, '127.0.0.1')
    const http = app.getHttpServer() as import('node:http').Server
    return { address: () => http.address(), close: () => app.close() }
  }
  const http = createExpressStockApi(validator, policy).listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => http.once('listening', () => resolve()))
  return http
}

const identity = (name: string) => {
  const found = emu.config.identities.find((i) => i.name === name)
  if (found === undefined) throw new Error(`no identity ${name}`)
  return found
}
const vm = (name: string) => new ManagedIdentityCredential({ clientId: identity(name).clientId })

type TokenSource = { label: string; token: () => Promise<string> }
const fromVm = (name: string): TokenSource => ({
  label: name,
  token: async () => (await vm(name).getToken('api://stock-api/.default')).token,
})
const minted = (label: string, make: () => string): TokenSource => ({ label, token: async () => make() })

/** A client with no token cache of its own (curl, a shell script): every call asks IMDS. */
const curlImds = (name: string, label: string): TokenSource => ({
  label,
  token: async () => {
    const url = `${emu.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://stock-api&client_id=${identity(name).clientId}`
    return ((await (await fetch(url, { headers: { Metadata: 'true' } })).json()) as { access_token: string })
      .access_token
  },
})

// The AKS pod: its own process (NODE_EXTRA_CA_CERTS is read at start), the webhook's variables, the
// kubelet's projected token file, and the real WorkloadIdentityCredential. Started now, awaited later.
const podDir = await mkdtemp(join(tmpdir(), 'entraguard-demo-'))
await writeFile(join(podDir, 'ca.pem'), emu.caCertificate ?? '')
emu.mintServiceAccountToken({
  cluster: 'aks-prod',
  namespace: 'trading',
  serviceAccount: 'quotes',
  file: join(podDir, 'token'),
})
const podScript = `import { WorkloadIdentityCredential } from '@azure/identity'
const { token } = await new WorkloadIdentityCredential({ disableInstanceDiscovery: true }).getToken('api://stock-api/.default')
process.stdout.write(token)`
const podEnv: NodeJS.ProcessEnv = {}
for (const [k, v] of Object.entries(process.env)) if (!/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(k)) podEnv[k] = v
const podToken = new Promise<string>((resolve, reject) =>
  execFile(
    process.execPath,
    ['--input-type=module', '-e', podScript],
    {
      cwd: new URL('.', import.meta.url),
      timeout: 30_000,
      env: {
        ...podEnv,
        NODE_EXTRA_CA_CERTS: join(podDir, 'ca.pem'),
        AZURE_AUTHORITY_HOST: emu.authority,
        AZURE_TENANT_ID: emu.tenantId,
        AZURE_CLIENT_ID: identity('quotes-pod').clientId,
        AZURE_FEDERATED_TOKEN_FILE: join(podDir, 'token'),
      },
    },
    (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout)),
  ),
)
podToken.catch(() => {})

interface Row {
  call: string
  caller: string
  expected: number
  status: number
  reason: string
}
const rows: Row[] = []

async function call(
  caller: TokenSource,
  method: string,
  path: string,
  expected: number,
  body?: unknown,
): Promise<void> {
  events.length = 0
  const token = await caller.token()
  const res = await fetch(`${api}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  const text = await res.text()
  const decision = events.find(
    (e) => e.type === 'access.allowed' || e.type === 'access.denied' || e.type === 'token.rejected',
  )
  let reason = decision?.reason ?? (res.ok ? 'valid token' : text)
  if (decision === undefined && !res.ok) {
    try {
      reason = (JSON.parse(text) as { error_description?: string }).error_description ?? text
    } catch {}
  }
  rows.push({ call: `${method} ${path}`, caller: caller.label, expected, status: res.status, reason })
}

const reader = fromVm('reader-vm')
const trader = fromVm('trader-vm')
await call(reader, 'GET', '/stocks', 200)
await call(reader, 'POST', '/stocks', 403, { symbol: 'NVDA', name: 'NVIDIA', price: 180 })
await call(reader, 'GET', '/portfolios/fabrikam', 200)
await call(reader, 'POST', '/portfolios/contoso/trades', 403)
await call(trader, 'POST', '/stocks', 201, { symbol: 'NVDA', name: 'NVIDIA', price: 180 })
await call(trader, 'POST', '/portfolios/contoso/trades', 201)
await call(trader, 'POST', '/portfolios/fabrikam/trades', 403)
await call(fromVm('idle-vm'), 'GET', '/stocks', 403)
const dac: TokenSource = {
  label: 'trader-vm (DefaultAzureCredential)',
  token: async () => {
    process.env.AZURE_CLIENT_ID = identity('trader-vm').clientId
    return (await new DefaultAzureCredential().getToken('api://stock-api/.default')).token
  },
}
await call(dac, 'GET', '/stocks/MSFT', 200)
await call(
  minted('user Ada (scope Stocks.Read)', () =>
    emu.mintToken({ audience: 'api://stock-api', identity: 'user', scopes: ['Stocks.Read'] }),
  ),
  'GET',
  '/me',
  200,
)
await call(
  minted('reader-vm, expired token', () =>
    emu.mintToken({ managedIdentity: 'reader-vm', audience: 'api://stock-api', expiresIn: -600 }),
  ),
  'GET',
  '/stocks',
  401,
)
await call(
  minted('token for another API', () =>
    emu.mintToken({ managedIdentity: 'reader-vm', audience: 'api://payroll' }),
  ),
  'GET',
  '/stocks',
  401,
)

await call(
  { label: 'quotes-pod (AKS, WorkloadIdentityCredential)', token: () => podToken },
  'GET',
  '/stocks',
  200,
)
// A pod whose service account has no federated credential: Entra refuses the exchange itself.
const exchange = await fetch(`${emu.httpAuthority}/${emu.tenantId}/oauth2/v2.0/token`, {
  method: 'POST',
  body: new URLSearchParams({
    client_id: identity('quotes-pod').clientId,
    scope: 'api://stock-api/.default',
    grant_type: 'client_credentials',
    client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
    client_assertion: emu.mintServiceAccountToken({ namespace: 'trading', serviceAccount: 'intruder' }),
  }),
})
rows.push({
  call: 'POST /{tenant}/oauth2/v2.0/token',
  caller: 'pod trading/intruder (no federated credential)',
  expected: 401,
  status: exchange.status,
  reason: ((await exchange.json()) as { error_description: string }).error_description.replace(
    / https:.*/,
    '',
  ),
})

// "I assigned the role and nothing changed": IMDS hands out its cached token until it lets go.
const readerCurl = (label: string) => curlImds('reader-vm', `reader-vm (curl to IMDS), ${label}`)
await call(readerCurl('before the assignment'), 'POST', '/stocks', 403, {
  symbol: 'AMD',
  name: 'AMD',
  price: 160,
})
emu.assignAppRole({ principal: 'reader-vm', app: 'api://stock-api', role: 'Stocks.Write' })
await call(readerCurl('assigned, cached token'), 'POST', '/stocks', 403, {
  symbol: 'AMD',
  name: 'AMD',
  price: 160,
})

emu.rotateKeys()
// Past the demo's kid-miss cooldown and IMDS's 1-s cache.
await new Promise((r) => setTimeout(r, 1_100))
await call(readerCurl('after the cache expired'), 'POST', '/stocks', 201, {
  symbol: 'AMD',
  name: 'AMD',
  price: 160,
})
await call({ ...reader, label: 'reader-vm, token from before the rotation' }, 'GET', '/stocks', 200)
await call(
  { ...fromVm('night-vm'), label: 'night-vm, first token after the rotation' },
  'GET',
  '/stocks',
  200,
)

// An AI agent on reader-vm calls the stock-quote MCP server's tools with the VM's managed identity.
const mcpServer = createServer().listen(0, '127.0.0.1')
await new Promise<void>((resolve) => mcpServer.once('listening', () => resolve()))
const mcpUrl = `http://127.0.0.1:${(mcpServer.address() as AddressInfo).port}/mcp`
const mcpApp = emu.addApp({
  name: 'stock-mcp',
  appIdUri: mcpUrl,
  appRoles: ['Stocks.Read', 'Stocks.Write'],
  accessTokenAcceptedVersion: 2,
})
emu.assignAppRole({ principal: 'reader-vm', app: mcpUrl, role: 'Stocks.Read' })
const mcpValidator = createValidator({
  tenant: 'contoso.onmicrosoft.com',
  audience: [mcpApp.clientId], // v2 tokens carry the MCP app's client ID as aud
  tokenVersions: [2],
  authority: emu.httpAuthority,
  resourceMetadata: { resource: mcpUrl, scopes: ['Stocks.Read', 'Stocks.Write'] },
  onEvent: (e) => events.push(e),
})
mcpServer.on('request', createMcpApp(mcpValidator))
async function mcpCall(tool: string, args: Record<string, unknown>, expected: number): Promise<void> {
  events.length = 0
  const credential = new ManagedIdentityCredential({ clientId: identity('reader-vm').clientId })
  const { token } = await credential.getToken(`${mcpUrl}/.default`)
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), {
    requestInit: { headers: { authorization: `Bearer ${token}` } },
  })
  const client = new Client({ name: 'agent', version: '1.0.0' })
  await client.connect(transport)
  const status = await client.callTool({ name: tool, arguments: args }).then(
    () => 200,
    (err: { code?: number }) => err.code ?? 0,
  )
  await client.close()
  const decision = events.find((e) => e.type === 'access.allowed' || e.type === 'access.denied')
  rows.push({
    call: `MCP tools/call ${tool}`,
    caller: 'agent on reader-vm (MCP SDK client)',
    expected,
    status,
    reason: decision?.reason ?? '',
  })
}
await mcpCall('get_quote', { symbol: 'MSFT' }, 200)
await mcpCall('trade', { symbol: 'MSFT', quantity: 1, side: 'buy', portfolio: 'agents' }, 403)

server.close()
validator.close()
mcpServer.close()
mcpValidator.close()
await emu.close()
await rm(podDir, { recursive: true, force: true })

const widths = { call: 32, caller: 50, status: 8 }
const line = (r: { call: string; caller: string; status: string; reason: string }) =>
  `${r.call.padEnd(widths.call)} ${r.caller.padEnd(widths.caller)} ${r.status.padEnd(widths.status)} ${r.reason}`
console.log(
  `\nentraguard demo: VMs, an AKS pod and an AI agent (MCP) call the stock API on ${framework} (emulated Entra ID at ${emu.authority})\n`,
)
console.log(line({ call: 'call', caller: 'caller', status: 'status', reason: 'reason' }))
console.log('-'.repeat(136))
let failed = 0
for (const r of rows) {
  const ok = r.status === r.expected
  if (!ok) failed++
  console.log(
    line({
      ...r,
      status: `${r.status}${ok ? '' : ` ≠ ${r.expected}`}`,
      reason: r.reason.length > 200 ? `${r.reason.slice(0, 200)}…` : r.reason,
    }),
  )
}
console.log('')
if (failed > 0) {
  console.error(`demo FAILED: ${failed} of ${rows.length} calls did not get the expected status`)
  process.exit(1)
}
console.log(`demo passed: ${rows.length} calls, every status as expected`)
process.exit(0)
