// `pnpm bench`: entraguard and its peers side by side, in one run, on this machine (issue 9).
// Each contender is a server process pinned to core 0 (Express: server.ts, Fastify: fastify-server.ts); load
// (autocannon, 8 connections) comes from core 1. Four workloads: WARM (one token reused), COLD (a new token
// every request), INVALID (garbage, wrong scheme, two segments, forged signature in turn) and MIXED (every
// other request valid and new, the others as INVALID). Every measurement is reported as server CPU time per
// request and as a ratio to the same framework with no auth *in the same round*; the median of the rounds.
// A noise guard reads core 0's busy time from /proc/stat: what the server did not use was foreign load, and a
// round with more than BENCH_NOISE (10 %) of it is marked disturbed (and left out of the medians when at least
// half the rounds are clean). Then per-call costs and cache memory (micro.ts), and instructions per request
// under callgrind (http-count.ts: deterministic where CPU time is noisy), their ratios beside the verdicts.
// Knobs: BENCH_ROUNDS (3), BENCH_DURATION seconds (2), BENCH_TOKENS (20000), BENCH_ONLY=a,b (contenders),
// BENCH_WORKLOADS=warm,cold,mixed,invalid, BENCH_CACHE_SIZES (10000,100000), BENCH_MICRO_MS (600),
// BENCH_COUNT=0 (no callgrind part), COUNT_REQUESTS (100), COUNT_WARMUP (10000), COUNT_WINDOWS (2), COUNT_JOBS (2).
import { execFileSync, spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism, cpus, release } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import {
  countHttp,
  httpCountMarkdown,
  IR_TARGETS,
  type IrRow,
  type IrTarget,
  irRatios,
} from './http-count.js'
import {
  EXPRESS,
  EXPRESS_PEERS,
  FASTIFY,
  FASTIFY_PEERS,
  isFastify,
  listeningPort,
  mintPool,
  noAuth,
  type Requests,
  requestsFor,
  sendsToken,
  startBenchIssuer,
  WORKLOADS,
  type Workload,
} from './setup.js'

const duration = Number(process.env.BENCH_DURATION ?? 2)
const rounds = Number(process.env.BENCH_ROUNDS ?? 3)
const poolSize = Number(process.env.BENCH_TOKENS ?? 20_000)
const noiseLimit = Number(process.env.BENCH_NOISE ?? 0.1)
const cacheSizes = (process.env.BENCH_CACHE_SIZES ?? '10000,100000').split(',').map(Number)
const here = fileURLToPath(new URL('.', import.meta.url))
const cores = availableParallelism()
const pin = cores >= 2 && hasTaskset()
if (pin) execFileSync('taskset', ['-p', '-c', '1', String(process.pid)], { stdio: 'ignore' })
const started = Date.now()

function hasTaskset(): boolean {
  try {
    execFileSync('taskset', ['-V'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const workloads = (process.env.BENCH_WORKLOADS?.split(',') as Workload[] | undefined) ?? WORKLOADS
const contenders = process.env.BENCH_ONLY?.split(',') ?? [...EXPRESS, ...FASTIFY]
const baselineOf = (name: string) => (isFastify(name) ? 'fastify' : 'express')

const { emu, config, dir, caFile } = await startBenchIssuer()
const tokenCount = Math.max(poolSize, ...cacheSizes.filter((n) => n > 0))
process.stdout.write(`minting ${tokenCount} distinct managed-identity tokens… `)
const allTokens = mintPool(emu, tokenCount)
const pool = allTokens.slice(0, poolSize)
const tokensFile = join(dir, 'tokens.json')
writeFileSync(tokensFile, JSON.stringify(allTokens))
console.log(`done (${((Date.now() - started) / 1000).toFixed(0)} s)`)
const env = {
  ...process.env,
  NODE_EXTRA_CA_CERTS: caFile,
  BENCH_CONFIG: JSON.stringify(config),
  BENCH_TOKENS: tokensFile,
}
const nodeArgs = ['--conditions=source', '--import', 'tsx']

function spawnPinned(args: string[]) {
  const [cmd, argv] = pin ? ['taskset', ['-c', '0', process.execPath, ...args]] : [process.execPath, args]
  return spawn(cmd as string, argv as string[], { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] })
}

async function startServer(contender: string): Promise<{ port: number; stop: () => void }> {
  const child = spawnPinned([
    ...nodeArgs,
    isFastify(contender) ? 'fastify-server.ts' : 'server.ts',
    contender,
  ])
  const port = await listeningPort(child, 30_000, contender)
  return { port, stop: () => child.kill() }
}

async function cpu(port: number): Promise<number> {
  const u = (await (await fetch(`http://127.0.0.1:${port}/__cpu`)).json()) as { user: number; system: number }
  return u.user + u.system
}

/** Core 0's busy time in µs (Linux /proc/stat), or undefined elsewhere. */
function core0Busy(): number | undefined {
  try {
    const line = readFileSync('/proc/stat', 'utf8')
      .split('\n')
      .find((l) => l.startsWith('cpu0 '))
    if (line === undefined) return undefined
    const [user, nice, system, , , irq, softirq, steal] = line.split(/\s+/).slice(1).map(Number) as number[]
    const ticks = (user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)
    return (ticks * 1e6) / 100 // USER_HZ
  } catch {
    return undefined
  }
}

interface Sample {
  rps: number
  cpu: number
  p50: number
  p99: number
  /** Answers wrong for the workload (see wrongAnswers). */
  wrong: number
  ok: number
  non2xx: number
  errors: number
  /** Valid tokens sent (MIXED: a 2xx beyond them accepted a bad token). */
  validSent: number
  /** Share of core 0 that went to other processes during the measurement, or NaN when unknown. */
  foreign: number
}

async function load(port: number, { header, valid }: Requests, seconds: number): Promise<Sample> {
  let k = 0
  let validSent = 0
  const before = await cpu(port)
  const busyBefore = core0Busy()
  const t0 = performance.now()
  const result = await autocannon({
    url: `http://127.0.0.1:${port}`,
    connections: 8,
    duration: seconds,
    requests: [
      {
        method: 'GET',
        path: '/stocks',
        setupRequest: (req) => {
          if (valid(k)) validSent++
          const value = header(k++)
          return value === undefined ? req : { ...req, headers: { ...req.headers, authorization: value } }
        },
      },
    ],
  })
  const wall = (performance.now() - t0) * 1000
  const busyAfter = core0Busy()
  const after = await cpu(port)
  const served = Math.max(1, result.requests.total)
  const ok = result['2xx']
  return {
    rps: result.requests.average,
    cpu: (after - before) / served,
    p50: result.latency.p50,
    p99: result.latency.p99,
    wrong: 0,
    ok,
    non2xx: result.non2xx,
    errors: result.errors + result.timeouts,
    validSent,
    foreign:
      busyBefore === undefined || busyAfter === undefined
        ? Number.NaN
        : Math.max(0, (busyAfter - busyBefore - (after - before)) / wall),
  }
}

/** Answers that were wrong for the workload: a refusal of a valid token, or a 2xx for a bad one. */
function wrongAnswers(workload: Workload, s: Sample): number {
  const errors = s.errors
  if (workload === 'warm' || workload === 'cold') return errors + s.non2xx
  // Requests still in flight when the load stops are counted as sent, not answered: up to 8 (connections).
  if (workload === 'invalid') return errors + s.ok
  return errors + Math.max(0, s.ok - s.validSent)
}

function headerFor(workload: Workload, contender: string, round: number): Requests {
  return requestsFor(pool, workload, contender, 1 + round * 7919)
}

type Measured = Record<Workload, (Sample & { ratio: number })[]> & { contender: string; note?: string }
const measured: Measured[] = []
const servers = new Map<string, { port: number; stop: () => void }>()
for (const contender of contenders) {
  const server = await startServer(contender)
  const probe = await fetch(`http://127.0.0.1:${server.port}/stocks`, {
    headers: sendsToken(contender) ? { authorization: `Bearer ${pool[0]}` } : {},
  })
  const row = { contender, warm: [], cold: [], mixed: [], invalid: [] } as unknown as Measured
  measured.push(row)
  if (probe.status !== 200) {
    row.note = `refused a valid token (${probe.status})`
    server.stop()
    continue
  }
  await load(server.port, headerFor('warm', contender, 0), 1) // warm-up: JIT, key fetch
  servers.set(contender, server)
}

// Interleaved rounds: every contender and workload once per round, so slow drifts of the shared machine hit
// all of them alike; ratios are taken within a round.
for (let round = 1; round <= rounds; round++) {
  const base = new Map<string, number>()
  for (const row of measured) {
    const server = servers.get(row.contender)
    if (server === undefined) continue
    const line: string[] = []
    for (const workload of noAuth(row.contender) ? (['warm'] as Workload[]) : workloads) {
      const header = headerFor(workload, row.contender, round)
      // An unmeasured half second of the same load first: a server that sat idle while the others ran has
      // shrunk its heap and must not charge that regrowth to the measurement.
      await load(server.port, header, 0.5)
      const s = await load(server.port, header, duration)
      s.wrong = wrongAnswers(workload, s)
      if (row.contender === 'express' || row.contender === 'fastify') base.set(row.contender, s.cpu)
      const ratio = (base.get(baselineOf(row.contender)) ?? Number.NaN) / s.cpu
      row[workload].push({ ...s, ratio })
      line.push(
        `${workload} ${s.cpu.toFixed(0).padStart(4)} µs ${ratio.toFixed(2)}${s.foreign > noiseLimit ? '*' : ' '}`,
      )
    }
    console.log(`round ${round} ${row.contender.padEnd(26)} ${line.join('  ')}`)
  }
}
for (const server of servers.values()) server.stop()
const httpSeconds = (Date.now() - started) / 1000

console.log('per-call costs and cache memory…')
const microChild = spawnPinned(['--expose-gc', ...nodeArgs, 'micro.ts'])
let microOut = ''
microChild.stdout.on('data', (c: Buffer) => {
  microOut += c.toString()
})
microChild.stderr.on('data', (c: Buffer) => process.stderr.write(c))
await new Promise((resolve) => microChild.once('exit', resolve))

const countRequests = Number(process.env.COUNT_REQUESTS ?? 100)
const countWarmup = Number(process.env.COUNT_WARMUP ?? 10_000)
let irRows: IrRow[] = []
if (process.env.BENCH_COUNT !== '0') {
  console.log('instructions per request under callgrind…')
  try {
    irRows = await countHttp({
      config,
      caFile,
      pool,
      contenders,
      workloads,
      requests: countRequests,
      warmup: countWarmup,
      windows: Number(process.env.COUNT_WINDOWS ?? 2),
      jobs: Number(process.env.COUNT_JOBS ?? Math.min(2, cores)),
      log: (line) => console.log(line),
    })
  } catch (error) {
    console.error(`http-count.ts failed (${(error as Error).message}): the report has no Ir figures`)
  }
}
await emu.close()
let microResult: {
  rows: { task: string; usPerCall: number }[]
  heap: { entries: number; bytesPerEntry: number }[]
}
try {
  microResult = JSON.parse(microOut.trim().split('\n').pop() ?? '')
} catch {
  console.error('micro.ts failed: the report has no per-call figures')
  microResult = { rows: [], heap: [] }
}

// ---- report ----
const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b)
  if (s.length === 0) return Number.NaN
  const m = s.length >> 1
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2
}
/** The rounds that count: the clean ones when at least half are clean, else all of them. */
const counted = <T extends { foreign: number }>(xs: T[]) => {
  const clean = xs.filter((x) => !(x.foreign > noiseLimit))
  return clean.length * 2 >= xs.length ? clean : xs
}
const stat = (row: Measured | undefined, w: Workload, f: (s: Sample & { ratio: number }) => number) => {
  if (row === undefined) return Number.NaN
  const xs = noAuth(row.contender) ? row.warm : row[w]
  return median(counted(xs).map(f))
}
const byName = (name: string) => measured.find((m) => m.contender === name)
const fmt = (x: number, digits = 1) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

const version = (pkg: string) => {
  try {
    return (
      JSON.parse(readFileSync(join(here, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }
    ).version
  } catch {
    return '?'
  }
}
const lines: string[] = []
lines.push('# entraguard benchmark', '')
lines.push(
  `Machine: ${cpus()[0]?.model ?? '?'}, ${cores} cores, Linux ${release()}. Node ${process.version}. ` +
    `Servers ${pin ? 'pinned to core 0, load (autocannon, 8 connections) from core 1' : 'not pinned'}; ` +
    `${rounds} interleaved rounds of ${duration} s per measurement (after 0.5 s unmeasured); ${poolSize} distinct tokens for COLD. ` +
    `HTTP part ${httpSeconds.toFixed(0)} s, whole run ${((Date.now() - started) / 1000).toFixed(0)} s. Run: \`pnpm bench\` ` +
    `(BENCH_ROUNDS=${rounds} BENCH_DURATION=${duration}).`,
  '',
  `Packages: ${['express', 'fastify', 'jose', 'express-oauth2-jwt-bearer', 'aws-jwt-verify', 'express-jwt', 'jwks-rsa', 'passport-azure-ad', '@fastify/jwt', 'get-jwks', 'fastify-auth0-verify', 'autocannon'].map((p) => `${p} ${version(p)}`).join(', ')}.`,
  '',
)
if (poolSize <= 10_000) {
  lines.push(
    `**Warning:** COLD cycles ${poolSize} tokens, no more than entraguard's cache remembers (10,000): entraguard's COLD numbers include cache hits. Use BENCH_TOKENS > 10000 for a true COLD.`,
    '',
  )
}
lines.push(
  'GET /stocks requiring app role Stocks.Read. WARM: one managed-identity token reused (what a VM does for 24 h). ' +
    'COLD: a new token on every request. INVALID: `Bearer x.y.z`, `Basic …`, a two-segment token and a forged ' +
    'signature in turn. MIXED: every other request COLD, the others INVALID. **µs** is the server process CPU time ' +
    'per request; **×** its ratio to the same framework without auth in the same round (CPU/req of no-auth ÷ ' +
    "CPU/req of the contender: the share of one core's no-auth throughput it keeps). Medians of the rounds; " +
    'req/s and latency (ms, autocannon, 8 connections) for reference. `wrong`: valid tokens refused or bad ones accepted ' +
    '(decode-only accepts forged tokens by design).',
  '',
)
const disturbed: string[] = []
for (const [title, names] of [
  ['Express', contenders.filter((n) => !isFastify(n))],
  ['Fastify', contenders.filter(isFastify)],
] as const) {
  if (names.length === 0) continue
  lines.push(`## HTTP: ${title}`, '')
  lines.push(
    '| contender | WARM µs | WARM × | COLD µs | COLD × | MIXED µs | MIXED × | INVALID µs | INVALID × | WARM req/s | COLD req/s | COLD p50 / p99 ms | wrong |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const name of names) {
    const row = byName(name) as Measured
    const cell = (w: Workload) =>
      `${fmt(stat(row, w, (s) => s.cpu))} | ${fmt(
        stat(row, w, (s) => s.ratio),
        2,
      )}`
    const wrong = WORKLOADS.reduce((n, w) => n + row[w].reduce((m, s) => m + s.wrong, 0), 0)
    lines.push(
      `| ${name}${row.note ? ` (${row.note})` : ''} | ${cell('warm')} | ${cell('cold')} | ${cell('mixed')} | ${cell('invalid')} | ${fmt(
        stat(row, 'warm', (s) => s.rps),
        0,
      )} | ${fmt(
        stat(row, 'cold', (s) => s.rps),
        0,
      )} | ${fmt(
        stat(row, 'cold', (s) => s.p50),
        0,
      )} / ${fmt(
        stat(row, 'cold', (s) => s.p99),
        0,
      )} | ${wrong} |`,
    )
    for (const w of WORKLOADS) {
      row[w].forEach((s, i) => {
        if (s.foreign > noiseLimit)
          disturbed.push(`${name} ${w} round ${i + 1} (${(100 * s.foreign).toFixed(0)} %)`)
      })
    }
  }
  lines.push('')
}
lines.push(
  disturbed.length === 0
    ? `Noise guard: no measurement saw more than ${100 * noiseLimit} % foreign load on core 0.`
    : `Noise guard: ${disturbed.length} measurements saw more than ${100 * noiseLimit} % foreign load on core 0 (left out of the medians when at least half the rounds of that cell were clean): ${disturbed.slice(0, 30).join('; ')}${disturbed.length > 30 ? '; …' : ''}.`,
  '',
)

if (irRows.length > 0) lines.push(...httpCountMarkdown(irRows, countRequests, countWarmup))

lines.push('## Per call (one core, median of batches)', '')
lines.push('| operation | µs per call |', '|---|---:|')
for (const r of microResult.rows) lines.push(`| ${r.task} | ${fmt(r.usPerCall, 2)} |`)
lines.push('', '| validated-token cache | heap per cached token (after GC) |', '|---|---:|')
for (const h of microResult.heap) lines.push(`| ${h.entries} entries | ${fmt(h.bytesPerEntry, 0)} B |`)
lines.push('')

// Targets of issue 9, each computed from this run.
const micro = (prefix: string) =>
  microResult.rows.find((r) => r.task.startsWith(prefix))?.usPerCall ?? Number.NaN
const peersOf = (names: string[]) => names.filter((n) => contenders.includes(n) && !byName(n)?.note)
const expressPeers = peersOf(EXPRESS_PEERS)
const fastifyPeers = peersOf(FASTIFY_PEERS)
// HTTP targets are judged on ratios paired within a round (both measured minutes apart at most), one per
// round: met when every round meets it, not met when none does, and "within noise" when the rounds disagree.
type Verdict = 'yes' | 'no' | 'within noise' | '–'
const perRound = (f: (round: number) => number) =>
  Array.from({ length: rounds }, (_, i) => f(i)).filter((x) => Number.isFinite(x))
const cell = (name: string, w: Workload, i: number) => {
  const row = byName(name)
  return row === undefined ? undefined : (noAuth(name) ? row.warm : row[w])[i]
}
const pair = (num: string, den: string, w: Workload, f: (s: Sample) => number = (s) => s.cpu) =>
  perRound((i) => {
    const a = cell(num, w, i)
    const b = cell(den, w, i)
    return a === undefined || b === undefined ? Number.NaN : f(a) / f(b)
  })
const judge = (xs: number[], atLeast: number): [string, Verdict] => {
  if (xs.length === 0) return ['n/a', 'no']
  const lo = Math.min(...xs)
  const hi = Math.max(...xs)
  const range = xs.length > 1 ? ` (rounds ${fmt(lo, 2)}–${fmt(hi, 2)})` : ''
  return [`${fmt(median(xs), 2)}${range}`, lo >= atLeast ? 'yes' : hi < atLeast ? 'no' : 'within noise']
}
const leadOver = (eg: string, peers: string[]) =>
  perRound((i) =>
    Math.min(
      ...peers.map((p) => (cell(p, 'cold', i)?.cpu ?? Number.NaN) / (cell(eg, 'cold', i)?.cpu ?? Number.NaN)),
    ),
  )
const worstGarbage = Math.max(
  micro('refuse `Bearer x.y.z`'),
  micro('refuse a wrong scheme'),
  micro('refuse two segments'),
)
const micros = (value: string, met: boolean): [string, Verdict] => [value, met ? 'yes' : 'no']
// Each HTTP target also as the same ratio of instructions per request (callgrind), where one is defined.
const targets: [string, [string, Verdict], IrTarget?][] = [
  [
    'COLD ≥ 0.95 × the bare node:crypto validator (Express; floor CPU/req ÷ entraguard CPU/req)',
    judge(pair('express-bare-crypto', 'entraguard', 'cold'), 0.95),
    'cold-floor',
  ],
  [
    'COLD ahead of every Express peer by ≥ 15 % (least peer CPU/req ÷ entraguard CPU/req)',
    judge(leadOver('entraguard', expressPeers), 1.15),
    'cold-express-peers',
  ],
  [
    'COLD ahead of every Fastify peer by ≥ 15 %',
    judge(leadOver('fastify-entraguard', fastifyPeers), 1.15),
    'cold-fastify-peers',
  ],
  [
    'COLD p99 ≤ 1.2 × the floor’s p99 (Express; 1.2 × floor p99 ÷ entraguard p99)',
    judge(
      pair('express-bare-crypto', 'entraguard', 'cold', (s) => s.p99).map((x) => 1.2 * x),
      1,
    ),
  ],
  ['WARM ≥ 0.92 × Express without auth', judge(pair('express', 'entraguard', 'warm'), 0.92), 'warm-express'],
  [
    'WARM ≥ 0.92 × Fastify without auth',
    judge(pair('fastify', 'fastify-entraguard', 'warm'), 0.92),
    'warm-fastify',
  ],
  [
    'WARM vs Express with the token header, no auth (no target; with-token ÷ entraguard)',
    [judge(pair('express-with-token', 'entraguard', 'warm'), 0.92)[0], '–'],
    'warm-express-token',
  ],
  [
    'WARM vs Fastify with the token header, no auth (no target; with-token ÷ fastify-entraguard)',
    [judge(pair('fastify-with-token', 'fastify-entraguard', 'warm'), 0.92)[0], '–'],
    'warm-fastify-token',
  ],
  ...(['entraguard', 'fastify-entraguard'] as const).map((eg): [string, [string, Verdict], IrTarget] => [
    `MIXED ≤ the mean of COLD and INVALID (${eg}; that mean ÷ MIXED, 2 % allowed)`,
    judge(
      perRound((i) => {
        const [c, v, m] = [cell(eg, 'cold', i), cell(eg, 'invalid', i), cell(eg, 'mixed', i)]
        return c && v && m ? (c.cpu + v.cpu) / 2 / m.cpu : Number.NaN
      }),
      0.98,
    ),
    eg === 'entraguard' ? 'mixed-express' : 'mixed-fastify',
  ]),
  [
    'garbage refused in ≤ 2 µs per call (worst of x.y.z, wrong scheme, two segments)',
    micros(`${fmt(worstGarbage, 2)} µs`, worstGarbage <= 2),
  ],
  [
    'a forged signature refused for ≤ the cost of accepting a new token (per call)',
    micros(
      `${fmt(micro('refuse a forged signature'), 1)} vs ${fmt(micro('accept a new token'), 1)} µs`,
      micro('refuse a forged signature') <= micro('accept a new token'),
    ),
  ],
  [
    'per call, a new token: entraguard ÷ the bare floor (no target; the in-process view of COLD)',
    [fmt(micro('accept a new token') / micro('floor: bare'), 2), '–'] as [string, Verdict],
  ],
  ...microResult.heap.map((h): [string, [string, Verdict]] => [
    `≤ 1 KiB of heap per cached token at ${h.entries} entries`,
    micros(`${fmt(h.bytesPerEntry, 0)} B`, h.bytesPerEntry <= 1024),
  ]),
]
const ir = irRatios(irRows)
const irCell = (key: IrTarget | undefined) => {
  if (key === undefined) return ''
  const value = ir[key]
  if (!Number.isFinite(value)) return 'n/a'
  return key.endsWith('-token')
    ? fmt(value, 2)
    : `${fmt(value, 2)} (${value >= IR_TARGETS[key].target ? 'yes' : '**no**'})`
}
lines.push(
  '## Targets (issue 9)',
  '',
  '| target | this run (CPU time) | met | Ir ratio (callgrind) |',
  '|---|---:|:---:|---:|',
)
for (const [what, [value, met], key] of targets)
  lines.push(`| ${what} | ${value} | ${met === 'yes' || met === '–' ? met : `**${met}**`} | ${irCell(key)} |`)
lines.push(
  '',
  'HTTP verdicts: ratios paired within each round; "within noise" when some rounds meet the target and others do not (then only a quieter machine or more rounds decide). Targets are computed, never asserted: this is a measurement, not a test. ' +
    '**Ir ratio**: the same ratio from instructions per request under callgrind (section above), with whether it meets the target: deterministic to ~1 %, but instructions are not time (RSA verification runs at another IPC than JavaScript; kernel work is not counted).',
)

const report = lines.join('\n')
console.log(`\n${report}`)
writeFileSync(join(here, 'RESULTS.md'), `${report}\n`)
// Aligned as the repository's formatter wants it, so `pnpm lint` passes with a fresh report committed.
try {
  execFileSync('pnpm', ['exec', 'biome', 'format', '--write', join(here, 'RESULTS.md')], { stdio: 'ignore' })
} catch {
  console.warn('bench/RESULTS.md left unformatted: run `pnpm exec biome format --write bench/RESULTS.md`')
}
process.exit(0)
