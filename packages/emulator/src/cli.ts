#!/usr/bin/env node
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { EmulatorConfigError } from './config.js'
import { startEmulator } from './emulator.js'

const usage = `Usage: entraguard-emulator [--config emulator.json] [--port 0] [--https]

Starts a local Microsoft Entra ID + IMDS emulator on 127.0.0.1 and prints its endpoints.`

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
    'Point the API at it:',
    `  createValidator({ tenant: '${emu.tenantId}', audience: ..., authority: '${emu.authority}' })`,
  ]
  for (const m of emu.config.identities)
    lines.push(`Identity ${m.name}: client_id=${m.clientId} object_id=${m.objectId}`)
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
    },
    allowPositionals: false,
  })
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
