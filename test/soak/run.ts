// `pnpm soak [--duration 60] [--outage 10] [--cooldown 5000] [--connections 10] [--frameworks express,fastify]`
//
// The stock API (Express and Fastify, in a child process run with --expose-gc) under autocannon on loopback
// for `duration` seconds, with a mix of valid, expired, forged, garbage, unknown-kid, role-less and malformed
// requests, every response checked against the status its request must get. A key rotation happens at a
// quarter of the run, and the issuer (a proxy in front of the emulator) is switched off for `outage` seconds
// in the middle. Prints one table and exits 1 on any violation: a 5xx, a wrong answer, a socket error or
// timeout, more identity-provider fetches than 1 + duration / cooldown, or heap / handles growing between the
// first and the last 10 s.
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { startEmulator } from '@entraguard/emulator'
import autocannon from 'autocannon'
import type { FromServer, Sample, SoakServerConfig, ToServer } from './server.js'

const { values: flags } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    outage: { type: 'string', default: '10' },
    cooldown: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '10' },
    frameworks: { type: 'string', default: 'express,fastify' },
  },
})
const duration = Number(flags.duration)
const outage = Number(flags.outage)
const cooldown = Number(flags.cooldown)
const connections = Number(flags.connections)
const frameworks = flags.frameworks.split(',').filter((f) => f === 'express' || f === 'fastify')
if (
  !(duration >= 20) ||
  !(outage >= 0 && outage < duration / 2) ||
  !(cooldown >= 100) ||
  !(connections >= 1)
) {
  console.error(
    'soak: --duration ≥ 20 s, 0 ≤ --outage < duration / 2, --cooldown ≥ 100 ms, --connections ≥ 1',
  )
  process.exit(2)
}
if (frameworks.length === 0) {
  console.error('soak: --frameworks takes express and/or fastify')
  process.exit(2)
}

const API_URI = 'api://stock-api'
const API_CLIENT_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const WINDOW = 10 // seconds at each end compared for heap and handles
let started = Date.now() // reset when the load starts
const elapsed = () => (Date.now() - started) / 1000

// ---- The identity provider: the emulator behind one switchable proxy per framework ------------------------

const emulatorConfig = JSON.parse(
  await readFile(new URL('../../examples/stock-api/emulator.json', import.meta.url), 'utf8'),
)
const emu = await startEmulator(emulatorConfig)
let issuerDown = false

interface Proxy {
  authority: string
  hits: { metadata: number; keys: number; refused: number }
  server: Server
}

async function startProxy(): Promise<Proxy> {
  const hits = { metadata: 0, keys: 0, refused: 0 }
  let authority = ''
  const server = createServer(async (req, res) => {
    if (issuerDown) {
      hits.refused++
      req.socket.destroy()
      return
    }
    const path = req.url ?? '/'
    if (path.includes('openid-configuration')) hits.metadata++
    else hits.keys++
    const answer = await fetch(`${emu.authority}${path}`)
    const body = (await answer.text()).replaceAll(emu.authority, authority)
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(body)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { authority, hits, server }
}

const proxies: Record<string, Proxy> = {}
for (const framework of frameworks) proxies[framework] = await startProxy()

// ---- The API process ------------------------------------------------------------------------------------

const serverConfig: SoakServerConfig = {
  tenantId: emu.tenantId,
  audience: [API_URI, API_CLIENT_ID],
  authorities: Object.fromEntries(frameworks.map((f) => [f, (proxies[f] as Proxy).authority])),
  cooldown,
}
const child: ChildProcess = spawn(
  process.execPath,
  [
    '--conditions=source',
    '--import',
    'tsx',
    '--expose-gc',
    fileURLToPath(new URL('./server.ts', import.meta.url)),
    JSON.stringify(serverConfig),
  ],
  { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], cwd: fileURLToPath(new URL('../..', import.meta.url)) },
)
function next<T extends FromServer['type']>(type: T): Promise<Extract<FromServer, { type: T }>> {
  return new Promise((resolve, reject) => {
    const onMessage = (m: FromServer) => {
      if (m.type !== type) return
      child.off('message', onMessage)
      child.off('exit', onExit)
      resolve(m as Extract<FromServer, { type: T }>)
    }
    const onExit = (code: number | null) => reject(new Error(`soak: the API process exited (${code})`))
    child.on('message', onMessage)
    child.once('exit', onExit)
  })
}
const ask = (message: ToServer) => child.send(message)
const { urls } = await next('ready')

// ---- The traffic: every request knows the status it must get -------------------------------------------

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url')
const segments = (t: string) => t.split('.') as [string, string, string]
const reader = () => emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI })
const pool = (n: number) => Array.from({ length: n }, reader)
const pick = <T>(list: readonly T[]): T => list[Math.floor(Math.random() * list.length)] as T

let valid = pool(20) // signed with the first key
const expired = Array.from({ length: 5 }, () =>
  emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, expiresIn: -3600 }),
)
const roleless = Array.from({ length: 5 }, () =>
  emu.mintToken({ managedIdentity: 'idle-vm', audience: API_URI }),
)
const forged = valid.slice(0, 5).map((t) => {
  const [h, p, s] = segments(t)
  const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>
  return `${h}.${b64({ ...claims, roles: ['Stocks.Read', 'Stocks.Write'] })}.${s}`
})
let freshAllowed = true // false between the rotation and the switch to the new key
let rotatedKid = ''

type Kind = 'valid' | 'fresh' | 'expired' | 'forged' | 'garbage' | 'unknown-kid' | 'roleless' | 'two-tokens'
const mix: [Kind, number, number][] = [
  ['valid', 40, 200],
  ['fresh', 5, 200],
  ['expired', 10, 401],
  ['forged', 10, 401],
  ['garbage', 10, 401],
  ['unknown-kid', 15, 401],
  ['roleless', 5, 403],
  ['two-tokens', 5, 400],
]
const totalWeight = mix.reduce((sum, [, w]) => sum + w, 0)

function draw(): { kind: Kind; expected: number; authorization: string } {
  let r = Math.random() * totalWeight
  let row = mix[0] as [Kind, number, number]
  for (const m of mix) {
    row = m
    r -= m[1]
    if (r < 0) break
  }
  const [kind, , expected] = row
  const bearer = (token: string) => ({ kind, expected, authorization: `Bearer ${token}` })
  switch (kind) {
    case 'valid':
      return bearer(pick(valid))
    case 'fresh':
      return bearer(freshAllowed ? reader() : pick(valid))
    case 'expired':
      return bearer(pick(expired))
    case 'forged':
      return bearer(pick(forged))
    case 'garbage':
      return bearer(randomBytes(24 + Math.floor(Math.random() * 200)).toString('base64url'))
    case 'unknown-kid': {
      // A new kid each time: the storm that must not turn into a storm of key-set fetches.
      const [, p, s] = segments(pick(valid))
      return bearer(
        `${b64({ typ: 'JWT', alg: 'RS256', kid: randomBytes(20).toString('base64url') })}.${p}.${s}`,
      )
    }
    case 'roleless':
      return bearer(pick(roleless))
    case 'two-tokens':
      return { kind, expected, authorization: `Bearer ${pick(valid)} ${pick(valid)}` }
  }
}

interface Tally {
  byKind: Record<string, { sent: number; wrong: number }>
  wrong: { at: number; kind: Kind; expected: number; got: number }[]
}
const tallies: Record<string, Tally> = {}

function requestsFor(framework: string): autocannon.Request[] {
  const tally: Tally = { byKind: {}, wrong: [] }
  tallies[framework] = tally
  return [
    {
      method: 'GET',
      path: '/stocks',
      setupRequest: (req, context) => {
        const { kind, expected, authorization } = draw()
        Object.assign(context, { kind, expected })
        return { ...req, headers: { ...req.headers, authorization } }
      },
      onResponse: (status, _body, context) => {
        const { kind, expected } = context as { kind: Kind; expected: number }
        const row = (tally.byKind[kind] ??= { sent: 0, wrong: 0 })
        row.sent++
        if (status !== expected) {
          row.wrong++
          if (tally.wrong.length < 10) tally.wrong.push({ at: elapsed(), kind, expected, got: status })
        }
      },
    },
  ]
}

// ---- The run ----------------------------------------------------------------------------------------------

started = Date.now()
const samples: (Sample & { t: number })[] = []
async function sample(): Promise<void> {
  const reply = next('sample')
  ask({ type: 'sample' })
  samples.push({ t: elapsed(), ...(await reply).sample })
}

const rotateAt = duration / 4
const switchAt = rotateAt + cooldown / 1000 + 1
const outageFrom = duration / 2 - outage / 2
const events: string[] = []
const timers = [
  setTimeout(() => {
    freshAllowed = false
    rotatedKid = emu.rotateKeys()
    events.push(`${elapsed().toFixed(1)} s  key rotation (new kid published; the old one stays published)`)
  }, rotateAt * 1000),
  setTimeout(() => {
    valid = pool(20)
    freshAllowed = true
    events.push(`${elapsed().toFixed(1)} s  tokens signed with the new key from now on`)
  }, switchAt * 1000),
  setTimeout(() => {
    issuerDown = true
    events.push(`${elapsed().toFixed(1)} s  issuer down`)
  }, outageFrom * 1000),
  setTimeout(
    () => {
      issuerDown = false
      events.push(`${elapsed().toFixed(1)} s  issuer back`)
    },
    (outageFrom + outage) * 1000,
  ),
]
const sampler = setInterval(() => void sample(), 1000)
await sample()

console.log(
  `soak: ${duration} s, ${connections} connections per framework (${frameworks.join(', ')}), cooldown ${cooldown} ms, outage ${outage} s`,
)
const results = await Promise.all(
  frameworks.map(async (framework) => {
    const result = await autocannon({
      url: urls[framework] as string,
      connections,
      duration,
      timeout: 10,
      requests: requestsFor(framework),
    })
    return [framework, result] as const
  }),
)
clearInterval(sampler)
for (const timer of timers) clearTimeout(timer)
await sample()

const stoppedReply = next('stopped')
ask({ type: 'stop' })
const { codes } = await stoppedReply
await emu.close()
for (const proxy of Object.values(proxies)) {
  proxy.server.closeAllConnections()
  proxy.server.close()
}

// ---- The table ------------------------------------------------------------------------------------------

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] as number)
}
const first = samples.filter((s) => s.t <= WINDOW)
const last = samples.filter((s) => s.t >= duration - WINDOW)
const heapFirst = median(first.map((s) => s.heapUsed))
const heapLast = median(last.map((s) => s.heapUsed))
const handlesFirst = median(first.map((s) => s.handles))
const handlesLast = median(last.map((s) => s.handles))
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MB`
const fetchLimit = 1 + Math.floor((duration * 1000) / cooldown)

const rows: [string, string[], string, boolean][] = []
const violations: string[] = []
function row(name: string, values: string[], limit: string, ok: boolean): void {
  rows.push([name, values, limit, ok])
  if (!ok) violations.push(name)
}
const per = (f: (framework: string) => string) => frameworks.map(f)
const resultOf = (framework: string) =>
  (results.find(([f]) => f === framework) as (typeof results)[number])[1]

row(
  'requests',
  per((f) => String(resultOf(f).requests.total)),
  '',
  true,
)
row(
  'requests/s (mean)',
  per((f) => resultOf(f).requests.average.toFixed(0)),
  '',
  true,
)
row(
  'latency p50 / p99 (ms)',
  per((f) => `${resultOf(f).latency.p50} / ${resultOf(f).latency.p99}`),
  '',
  true,
)
row(
  '2xx / 4xx',
  per((f) => `${resultOf(f)['2xx']} / ${resultOf(f)['4xx']}`),
  '',
  true,
)
row(
  '5xx',
  per((f) => String(resultOf(f)['5xx'])),
  '0',
  frameworks.every((f) => resultOf(f)['5xx'] === 0),
)
row(
  'socket errors / timeouts',
  per((f) => `${resultOf(f).errors} / ${resultOf(f).timeouts}`),
  '0 / 0',
  frameworks.every((f) => resultOf(f).errors === 0 && resultOf(f).timeouts === 0),
)
const wrongOf = (f: string) => Object.values(tallies[f]?.byKind ?? {}).reduce((n, r) => n + r.wrong, 0)
const checkedOf = (f: string) => Object.values(tallies[f]?.byKind ?? {}).reduce((n, r) => n + r.sent, 0)
row(
  'responses checked',
  per((f) => String(checkedOf(f))),
  '= requests',
  true,
)
row(
  'wrong answers',
  per((f) => String(wrongOf(f))),
  '0',
  frameworks.every((f) => wrongOf(f) === 0),
)
for (const [kind, , expected] of mix) {
  row(
    `  ${kind} → ${expected}`,
    per((f) => String(tallies[f]?.byKind[kind]?.sent ?? 0)),
    '',
    true,
  )
}
row(
  'IdP key-set fetches',
  per((f) => String(proxies[f]?.hits.keys)),
  `≤ ${fetchLimit}`,
  frameworks.every((f) => (proxies[f]?.hits.keys ?? 0) <= fetchLimit),
)
row(
  'IdP metadata fetches',
  per((f) => String(proxies[f]?.hits.metadata)),
  `≤ ${fetchLimit + 1}`,
  frameworks.every((f) => (proxies[f]?.hits.metadata ?? 0) <= fetchLimit + 1),
)
row(
  'IdP requests refused in the outage',
  per((f) => String(proxies[f]?.hits.refused)),
  '> 0 (tried)',
  outage === 0 || frameworks.every((f) => (proxies[f]?.hits.refused ?? 0) > 0),
)
const heapOk = heapLast - heapFirst <= Math.max(5 * 1024 * 1024, heapFirst * 0.2)
row(
  `heap after GC, first / last ${WINDOW} s`,
  [`${mb(heapFirst)} / ${mb(heapLast)}`],
  '+≤ max(5 MB, 20%)',
  heapOk,
)
row(
  `active handles, first / last ${WINDOW} s`,
  [`${handlesFirst} / ${handlesLast}`],
  '+≤ 5',
  handlesLast - handlesFirst <= 5,
)

const widths = [
  Math.max(...rows.map((r) => r[0].length)),
  ...frameworks.map((_, i) => Math.max(frameworks[i]?.length ?? 0, ...rows.map((r) => r[1][i]?.length ?? 0))),
  Math.max(5, ...rows.map((r) => r[2].length)),
]
const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join(' | ')} |`
console.log()
for (const e of events) console.log(`  ${e}`)
console.log()
console.log(`${line(['', ...frameworks, 'limit'])}   `)
console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|----|`)
for (const [name, values, limit, ok] of rows) {
  const cells = frameworks.map((_, i) => values[i] ?? (i === 0 ? '' : ''))
  console.log(`${line([name, ...cells, limit])} ${ok ? 'ok' : 'FAIL'} |`)
}
console.log()
console.log(`rotated to kid ${rotatedKid.slice(0, 8)}…; validator outcomes per framework (events):`)
for (const [framework, seen] of Object.entries(codes)) {
  const listed = Object.entries(seen)
    .sort((a, b) => b[1] - a[1])
    .map(([k, n]) => `${k} ${n}`)
  console.log(`  ${framework}: ${listed.join(', ')}`)
}
for (const f of frameworks) {
  for (const w of tallies[f]?.wrong ?? []) {
    console.log(
      `  wrong answer (${f}) at ${w.at.toFixed(1)} s: ${w.kind} expected ${w.expected}, got ${w.got}`,
    )
  }
}
if (violations.length > 0) {
  console.error(`\nsoak: FAILED: ${violations.join('; ')}`)
  process.exit(1)
}
console.log('\nsoak: passed')
process.exit(0)
