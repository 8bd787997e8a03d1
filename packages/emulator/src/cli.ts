#!/usr/bin/env node
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { EmulatorConfigError } from './config.js'
import { startEmulator } from './emulator.js'

const usage = `Usage: entraguard-emulator [--config emulator.json] [--port 0] [--https]
       entraguard-emulator assign   --identity <name|client id> [--app <API>] --role <role> [--emulator <url>]
       entraguard-emulator unassign --identity <name|client id> [--app <API>] --role <role> [--emulator <url>]
       entraguard-emulator clear-token-cache [--identity <name|client id>] [--emulator <url>]

Starts a local Microsoft Entra ID + IMDS emulator on 127.0.0.1 and prints its endpoints; or changes
the directory of a running one through its admin endpoint (--emulator, or ENTRAGUARD_EMULATOR, as
printed at start). --app may be left out when one app defines the role.`

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>
  try {
    args = parse()
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}\n`)
    return 2
  }
  if (args.values.help === true) {
    process.stdout.write(`${usage}\n`)
    return 0
  }
  if (args.positionals.length > 0) return command(args)
  let config: Record<string, unknown> = {}
  const file = args.values.config
  if (file !== undefined) {
    try {
      config = JSON.parse(await readFile(file, 'utf8'))
    } catch (err) {
      process.stderr.write(`Cannot load ${file}: ${(err as Error).message}\n`)
      return 2
    }
  }
  if (args.values.port !== undefined) {
    const port = Number(args.values.port)
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      process.stderr.write(`--port must be a port number, got '${args.values.port}'\n`)
      return 2
    }
    config.port = port
  }
  if (args.values.https === true) config.https = true
  let emu: Awaited<ReturnType<typeof startEmulator>>
  try {
    emu = await startEmulator(config)
  } catch (err) {
    if (err instanceof EmulatorConfigError) {
      process.stderr.write(`${err.message.replace('emulator options', file ?? 'emulator options')}\n`)
      return 2
    }
    throw err
  }
  // Listen for the stop signals before announcing the endpoints: whoever reads them may stop us at once.
  const stopped = new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  const t = emu.config.tenants[0]
  const lines = [
    `entraguard emulator listening on ${emu.authority}`,
    '',
    `Tenant            ${emu.tenantId} (${t?.domain})`,
    `OpenID v2.0       ${emu.authority}/${emu.tenantId}/v2.0/.well-known/openid-configuration`,
    `OpenID v1.0       ${emu.authority}/${emu.tenantId}/.well-known/openid-configuration`,
    `Token endpoint    ${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`,
    `IMDS              ${emu.imdsEndpoint}/metadata/identity/oauth2/token`,
    `App Service       ${emu.appServiceEndpoint}`,
    '',
    'Point @azure/identity at it (IMDS flavour):',
    `  export AZURE_POD_IDENTITY_AUTHORITY_HOST=${emu.imdsEndpoint}`,
    '  export AZURE_TOKEN_CREDENTIALS=ManagedIdentityCredential',
    'or (App Service flavour):',
    `  export IDENTITY_ENDPOINT=${emu.appServiceEndpoint}`,
    `  export IDENTITY_HEADER=${emu.appServiceSecret}`,
    '',
    'Change the directory while it runs (IMDS caches tokens: a new role shows in a token issued later):',
    `  export ENTRAGUARD_EMULATOR=${emu.adminEndpoint}`,
    '  entraguard-emulator assign --identity <name> --role <role>',
    '  entraguard-emulator clear-token-cache',
    '',
    'Point the API at it:',
    `  createValidator({ tenant: '${emu.tenantId}', audience: ..., authority: '${emu.authority}' })`,
  ]
  for (const m of emu.config.identities)
    lines.push(`Identity ${m.name}: client_id=${m.clientId} object_id=${m.objectId}`)
  for (const c of emu.config.clusters) lines.push(`Cluster ${c.name}: issuer ${emu.clusterIssuer(c.name)}`)
  process.stdout.write(`${lines.join('\n')}\n`)
  await stopped
  await emu.close()
  return 0
}

function parse() {
  return parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      port: { type: 'string', short: 'p' },
      https: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
      emulator: { type: 'string' },
      identity: { type: 'string' },
      app: { type: 'string' },
      role: { type: 'string' },
    },
    allowPositionals: true,
  })
}

/** `assign`, `unassign`, `clear-token-cache`: one request to a running emulator's admin endpoint. */
async function command(args: ReturnType<typeof parse>): Promise<number> {
  const [name, ...extra] = args.positionals
  const { emulator = process.env.ENTRAGUARD_EMULATOR, identity, app, role } = args.values
  const fail = (message: string) => {
    process.stderr.write(`${message}\n\n${usage}\n`)
    return 2
  }
  if (extra.length > 0) return fail(`Unexpected argument '${extra[0]}'`)
  if (emulator === undefined)
    return fail('Which emulator? Pass --emulator <admin url> or set ENTRAGUARD_EMULATOR')
  let path: string
  let method: string
  let body: Record<string, string>
  if (name === 'assign' || name === 'unassign') {
    if (identity === undefined || role === undefined) return fail(`${name} needs --identity and --role`)
    path = '/app-role-assignments'
    method = name === 'assign' ? 'POST' : 'DELETE'
    body = { principal: identity, role, ...(app === undefined ? {} : { app }) }
  } else if (name === 'clear-token-cache') {
    path = '/token-cache/clear'
    method = 'POST'
    body = identity === undefined ? {} : { identity }
  } else return fail(`Unknown command '${name}'`)
  let res: Response
  try {
    res = await fetch(`${emulator.replace(/\/$/, '')}${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(10_000),
    })
  } catch (err) {
    process.stderr.write(`Cannot reach the emulator at ${emulator}: ${(err as Error).message}\n`)
    return 1
  }
  if (!res.ok) {
    const text = await res.text()
    let reason = text
    try {
      reason = (JSON.parse(text) as { error_description?: string }).error_description ?? text
    } catch {}
    process.stderr.write(`${name} failed (${res.status}): ${reason}\n`)
    return 1
  }
  const done =
    name === 'assign'
      ? `Assigned ${role} to ${identity}. Tokens issued from now on carry it; IMDS keeps handing out its cached token until that expires (clear-token-cache to skip the wait).`
      : name === 'unassign'
        ? `Removed ${role} from ${identity}. Tokens issued earlier keep it until they expire.`
        : `Cleared the IMDS token cache${identity === undefined ? '' : ` of ${identity}`}.`
  process.stdout.write(`${done}\n`)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    process.stderr.write(`${(err as Error).stack ?? String(err)}\n`)
    process.exitCode = 1
  },
)
