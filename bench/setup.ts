// Shared by the bench scripts: the emulated issuer they all measure against, and the configuration that
// run.ts / profile.ts pass to server.ts and micro.ts in BENCH_CONFIG.
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Emulator, startEmulator } from '@entraguard/emulator'

/** Where the contenders find the issuer and what they accept. */
export interface BenchConfig {
  authority: string
  tenant: string
  issuer: string
  jwksUri: string
  metadataUrl: string
  audience: string
}

const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'

/**
 * Starts an https emulator (passport-azure-ad and aws-jwt-verify insist on https) with one v2 API and one VM
 * holding Stocks.Read, and writes its CA certificate for the children's NODE_EXTRA_CA_CERTS.
 */
export async function startBenchIssuer(): Promise<{
  emu: Emulator
  config: BenchConfig
  dir: string
  caFile: string
}> {
  const emu = await startEmulator({
    https: true,
    tenants: [{ id: '72f988bf-86f1-41af-91ab-2d7cd011db47' }],
    apps: [
      {
        clientId: API,
        appIdUri: 'api://stock-api',
        appRoles: ['Stocks.Read'],
        accessTokenAcceptedVersion: 2,
      },
    ],
    identities: [{ name: 'vm', appRoleAssignments: [{ app: API, role: 'Stocks.Read' }] }],
  })
  const dir = mkdtempSync(join(tmpdir(), 'entraguard-bench-'))
  const caFile = join(dir, 'ca.pem')
  writeFileSync(caFile, emu.caCertificate ?? '')
  const config: BenchConfig = {
    authority: emu.authority,
    tenant: emu.tenantId,
    issuer: `https://login.microsoftonline.com/${emu.tenantId}/v2.0`,
    jwksUri: `${emu.authority}/${emu.tenantId}/discovery/v2.0/keys`,
    metadataUrl: `${emu.authority}/${emu.tenantId}/v2.0/.well-known/openid-configuration`,
    audience: API,
  }
  return { emu, config, dir, caFile }
}

/** Mints `count` distinct valid managed-identity tokens for the bench API. */
export function mintPool(emu: Emulator, count: number): string[] {
  return Array.from({ length: count }, () => emu.mintToken({ managedIdentity: 'vm', version: 2 }))
}

/** The BENCH_CONFIG a child process (server.ts, micro.ts) was given. */
export function benchConfig(): BenchConfig {
  return JSON.parse(process.env.BENCH_CONFIG ?? '{}') as BenchConfig
}
