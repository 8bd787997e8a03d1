// Shared by the bench scripts: the emulated issuer they all measure against, the configuration that
// run.ts / profile.ts / http-count.ts pass to server.ts and micro.ts in BENCH_CONFIG, and the contenders and
// workloads they measure. The emulator is imported on use: the servers import this file too.
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { constants, PerformanceObserver } from 'node:perf_hooks'
import type { Emulator } from '@entraguard/emulator'

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
  const { startEmulator } = await import('@entraguard/emulator')
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

/** The Express contenders (server.ts), references first. */
export const EXPRESS = [
  'express',
  'express-with-token',
  'express-decode-only',
  'express-bare-crypto',
  'entraguard',
  'jose',
  'express-oauth2-jwt-bearer',
  'aws-jwt-verify',
  'express-jwt+jwks-rsa',
  'passport-azure-ad',
]

/** The Fastify contenders (fastify-server.ts), references first. */
export const FASTIFY = [
  'fastify',
  'fastify-with-token',
  'fastify-bare-crypto',
  'fastify-entraguard',
  'fastify-jwt+get-jwks',
  'fastify-auth0-verify',
]

/** The peers each entraguard adapter is compared with. */
export const EXPRESS_PEERS = [
  'jose',
  'express-oauth2-jwt-bearer',
  'aws-jwt-verify',
  'express-jwt+jwks-rsa',
  'passport-azure-ad',
]
export const FASTIFY_PEERS = ['fastify-jwt+get-jwks', 'fastify-auth0-verify']

/** Whether a contender runs behind Fastify (fastify-server.ts) rather than Express (server.ts). */
export const isFastify = (name: string): boolean => name.startsWith('fastify')

/** Servers without auth answer every workload alike: measured once, as WARM. */
export const noAuth = (name: string): boolean =>
  ['express', 'express-with-token', 'fastify', 'fastify-with-token'].includes(name)

/** Whether the contender's requests carry an Authorization header. */
export const sendsToken = (name: string): boolean => name !== 'express' && name !== 'fastify'

/**
 * WARM: one token reused. COLD: a new token every request. INVALID: garbage, wrong scheme, two segments and
 * a forged signature in turn. MIXED: every other request COLD, the others INVALID.
 */
export type Workload = 'warm' | 'cold' | 'mixed' | 'invalid'
export const WORKLOADS: Workload[] = ['warm', 'cold', 'mixed', 'invalid']

/** A workload as the load generator sees it: the Authorization value of request k, and whether it is valid. */
export interface Requests {
  header: (k: number) => string | undefined
  valid: (k: number) => boolean
}

/**
 * The requests of a workload for a contender; `offset` picks where in the pool COLD starts (and which
 * refusal INVALID starts with), so that rounds or windows do not repeat tokens.
 *
 * @example
 * const { header } = requestsFor(pool, 'cold', 'entraguard', 1)
 * header(0) // `Bearer ${pool[1]}`
 */
export function requestsFor(pool: string[], workload: Workload, contender: string, offset: number): Requests {
  const fresh = (k: number) => `Bearer ${pool[(offset + k) % pool.length]}`
  const always = () => true
  if (!sendsToken(contender)) return { header: () => undefined, valid: always }
  // Forged: a valid token's signature altered.
  const forged = (k: number) => {
    const t = pool[k % pool.length] as string
    return `Bearer ${t.slice(0, -6)}${t.endsWith('AAAAAA') ? 'BAAAAA' : 'AAAAAA'}`
  }
  const twoSegments = (pool[0] as string).split('.').slice(0, 2).join('.')
  const bad = (k: number): string => {
    switch (k % 4) {
      case 0:
        return 'Bearer x.y.z'
      case 1:
        return 'Basic dXNlcjpwYXNzd29yZA=='
      case 2:
        return `Bearer ${twoSegments}`
      default:
        return forged(k)
    }
  }
  switch (workload) {
    case 'warm':
      return { header: () => `Bearer ${pool[0]}`, valid: always }
    case 'cold':
      return { header: fresh, valid: always }
    case 'invalid':
      return { header: (k) => bad(offset + k), valid: () => false }
    case 'mixed':
      return {
        header: (k) => (k % 2 === 0 ? fresh(k >> 1) : bad(offset + (k >> 1))),
        valid: (k) => k % 2 === 0,
      }
  }
}

/**
 * A scavenge, when node runs with --expose-gc: how http-count.ts starts its windows (GET /__gc on both servers).
 * Not a full GC: that discards optimized code whose maps died, and the next requests would measure re-tiering.
 */
export function scavenge(): void {
  ;(globalThis as { gc?: (options: { type: 'minor' }) => void }).gc?.({ type: 'minor' })
}

/**
 * A counter of major GCs (mark-compact) for GET /__majors: installs a `gc` PerformanceObserver when node runs
 * with --expose-gc (under http-count.ts), and counts nothing otherwise, so the CPU-time runs pay nothing.
 */
export function countMajorGcs(): () => number {
  let majors = 0
  if ((globalThis as { gc?: unknown }).gc !== undefined) {
    new PerformanceObserver((list) => {
      for (const entry of list.getEntries())
        if ((entry as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)
          majors++
    }).observe({ entryTypes: ['gc'] })
  }
  return () => majors
}

/**
 * The port a bench server prints (`listening on PORT`) on stdout or stderr. Rejects, killing the child, when it
 * exits first or says nothing within `timeoutMs`; the rejection quotes the end of its output.
 */
export function listeningPort(child: ChildProcess, timeoutMs: number, what: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let output = ''
    const timer = setTimeout(() => {
      child.kill()
      reject(new Error(`${what} did not start: ${output.slice(-500)}`))
    }, timeoutMs)
    const onData = (chunk: Buffer) => {
      output += chunk.toString()
      const m = /listening on (\d+)/.exec(output)
      if (m === null) return
      clearTimeout(timer)
      child.stdout?.off('data', onData)
      child.stderr?.off('data', onData)
      child.off('exit', onExit)
      resolve(Number(m[1]))
    }
    const onExit = (code: number | null) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited (${code}): ${output.slice(-500)}`))
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.once('exit', onExit)
  })
}
