// `pnpm demo`: the whole story on one machine, with no Azure account.
// An emulated Entra ID + IMDS serves managed-identity tokens; VMs get them through the real
// @azure/identity client and call the stock-tracking API, which allows or denies by app role and RBAC.
import { readFile } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { type AuthEvent, createValidator, loadPolicy } from '@entraguard/core'
import { startEmulator } from '@entraguard/emulator'
import { createExpressStockApi } from './stock-api/express-app.js'

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
const emu = await startEmulator(config)
process.env.AZURE_POD_IDENTITY_AUTHORITY_HOST = emu.imdsEndpoint
process.env.AZURE_TOKEN_CREDENTIALS = 'ManagedIdentityCredential'
process.env.NO_PROXY = '127.0.0.1,localhost'
const { DefaultAzureCredential, ManagedIdentityCredential } = await import('@azure/identity')

const events: AuthEvent[] = []
const validator = createValidator({
  tenant: 'contoso.onmicrosoft.com',
  audience: ['api://stock-api', '6e74172b-be56-4843-9ff4-e66a39bb12e3'],
  authority: emu.authority,
  // Entra publishes new keys well before it signs with them; the emulator switches at once, so let an
  // unknown kid trigger a refresh after 1 s instead of the production 5 minutes.
  jwks: { cooldown: 1_000 },
  onEvent: (e) => events.push(e),
})
await validator.warm()
const policy = await loadPolicy(new URL('./stock-api/policy.json', import.meta.url))
const server = createExpressStockApi(validator, policy).listen(0, '127.0.0.1')
await new Promise<void>((resolve) => server.once('listening', () => resolve()))
const api = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

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

emu.rotateKeys()
await new Promise((r) => setTimeout(r, 1_100)) // past the demo's kid-miss cooldown
await call({ ...reader, label: 'reader-vm, token from before the rotation' }, 'GET', '/stocks', 200)
await call(
  { ...fromVm('night-vm'), label: 'night-vm, first token after the rotation' },
  'GET',
  '/stocks',
  200,
)

server.close()
validator.close()
await emu.close()

const widths = { call: 32, caller: 44, status: 8 }
const line = (r: { call: string; caller: string; status: string; reason: string }) =>
  `${r.call.padEnd(widths.call)} ${r.caller.padEnd(widths.caller)} ${r.status.padEnd(widths.status)} ${r.reason}`
console.log(
  `\nentraguard demo: VMs with managed identities call the stock API (emulated Entra ID at ${emu.authority})\n`,
)
console.log(line({ call: 'call', caller: 'caller', status: 'status', reason: 'reason' }))
console.log('-'.repeat(130))
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
