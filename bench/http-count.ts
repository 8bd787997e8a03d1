// Instructions per HTTP request, deterministically: the CPU-time tables of run.ts swing ±50 % between rounds on
// a shared machine, a count of executed instructions does not.
//
// How: each contender's server (server.ts / fastify-server.ts, the code run.ts measures) runs under
// `valgrind --tool=callgrind`, one process per contender, driven from outside valgrind by a plain keep-alive
// client with ONE connection and one request at a time: every request is one wake-up, one read, one answer,
// so the event loop does the same work in every run (with more connections, how requests batch depends on
// timing). Per workload: W requests of warm-up, then windows of N requests, each bracketed by
// `callgrind_control --zero` and `--dump`, so start-up, warm-up and the other workloads fall outside it (no
// second process to difference, as count.ts does: here start-up costs most of a minute).
// Two things are not per-request work but one-off or lumpy, and are subtracted from each window using the
// inclusive cost of their calls in the dump: the JIT's compilations (a steady-state server has paid them; a
// single TurboFan job is worth 100 requests of Express) and V8's collections (whether a scavenge falls into a
// window depends on where the young generation stood). To keep collections out of the windows in the first
// place, each window starts after a scavenge (GET /__gc, node --expose-gc) with 64 MiB semi-spaces; what a
// contender leaves to the GC is reported instead as bytes allocated per request (GET /__heap after the window).
// Start-up and warm-up run with instrumentation off (--instr-atstart=no, then `callgrind_control --instr`
// around the windows): the code V8 runs is the same, valgrind runs it several times faster.
// Node runs --single-threaded: GC and compilation on the main thread at points fixed by the work, not timing.
// Valgrind's default --smc-check=all-non-file already covers V8's code in anonymous mappings.
// Determinism: after 10,000 requests of warm-up the windows of one cell agree within 1 % (most within 0.5 %);
// every contender gets the same schedule (W, N, workloads in the same order), so ratios compare like with like.
//
// Start-up under valgrind is the cost to keep down (tsx alone is 20 s there): the two server files are
// bundled once with esbuild (the version tsx uses, the transform tsx would apply) into plain JS, @entraguard/* from
// source (--conditions=source), every other package external, loaded from node_modules as in run.ts.
//
// What it is not: instructions are not time. RSA verification in OpenSSL runs at another IPC than JavaScript,
// cache misses count nothing, and the kernel's socket work is not counted at all: these are ratios of
// user-space work, a companion to run.ts's CPU time, not a substitute.
//
// Standalone: `node --conditions=source --import tsx bench/http-count.ts`; run.ts calls countHttp().
// Knobs: BENCH_ONLY=a,b (contenders), BENCH_WORKLOADS=warm,cold,mixed,invalid, COUNT_REQUESTS (N, 100),
// COUNT_WARMUP (W, 10000: JIT tiering settles late; Fastify with entraguard read 112 kIr at 5,000 and 109 at
// 10,000 and 20,000), COUNT_WINDOWS (2), COUNT_JOBS (servers under valgrind at once, 2), COUNT_SEMI_SPACE
// (MiB, 64), COUNT_KEEP=dir (keep every window's dump there, for callgrind_annotate).
import { execFileSync, spawn } from 'node:child_process'
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request } from 'node:http'
import { createRequire } from 'node:module'
import { availableParallelism, tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import {
  type BenchConfig,
  EXPRESS,
  EXPRESS_PEERS,
  FASTIFY,
  FASTIFY_PEERS,
  isFastify,
  listeningPort,
  noAuth,
  requestsFor,
  WORKLOADS,
  type Workload,
} from './setup.js'

const here = fileURLToPath(new URL('.', import.meta.url))
// MiB per semi-space: no scavenge during a window of N requests up to ~N × 300 KiB allocated.
const semiSpace = Number(process.env.COUNT_SEMI_SPACE ?? 64)

/**
 * One cell, per request: Ir (JIT and GC subtracted) as the mean of the windows and from each window, what was
 * subtracted, the bytes allocated on the JS heap, and the answers that were wrong for the workload.
 */
export interface IrCell {
  ir: number
  windows: number[]
  jit: number
  gc: number
  allocated: number
  wrong: number
}

/** One contender's row; `note` when it could not be measured. */
export interface IrRow {
  contender: string
  cells: Partial<Record<Workload, IrCell>>
  note?: string
}

/** What to measure and where the issuer is. */
export interface CountOptions {
  config: BenchConfig
  caFile: string
  /** Valid tokens; COLD and MIXED never reuse one within a server. */
  pool: string[]
  contenders?: string[]
  workloads?: Workload[]
  requests?: number
  warmup?: number
  windows?: number
  jobs?: number
  log?: (line: string) => void
}

interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>
}
interface PluginBuild {
  onResolve(
    filter: { filter: RegExp },
    f: (args: { path: string; kind: string; resolveDir: string; pluginData?: unknown }) => unknown,
  ): void
  onLoad(filter: { filter: RegExp }, f: (args: { path: string }) => unknown): void
  resolve(
    path: string,
    options: { kind: string; resolveDir: string; pluginData: unknown },
  ): Promise<{ path: string; errors: unknown[] }>
}

/** Bundles server.ts and fastify-server.ts into `dir`: start-up under valgrind without tsx. */
async function bundle(dir: string): Promise<void> {
  const esbuild = createRequire(import.meta.url)('esbuild') as Esbuild
  const skip = Symbol('external')
  const plugin = {
    name: 'entraguard-bench',
    setup(build: PluginBuild) {
      // Packages other than entraguard's stay external, by absolute path (the bundle lives in a temp dir).
      build.onResolve({ filter: /^[^./]/ }, async (args) => {
        if (args.pluginData === skip || args.path.startsWith('@entraguard/')) return undefined
        if (args.path.startsWith('node:')) return { path: args.path, external: true }
        const resolved = await build.resolve(args.path, {
          kind: args.kind,
          resolveDir: args.resolveDir,
          pluginData: skip,
        })
        return resolved.errors.length > 0 ? undefined : { path: resolved.path, external: true }
      })
      // import.meta.url keeps the source file's address (core resolves an optional peer from it).
      build.onLoad({ filter: /\.ts$/ }, (args) => {
        const source = readFileSync(args.path, 'utf8')
        return {
          contents: source.replaceAll('import.meta.url', JSON.stringify(pathToFileURL(args.path).href)),
          loader: 'ts',
        }
      })
    },
  }
  await esbuild.build({
    entryPoints: [join(here, 'server.ts'), join(here, 'fastify-server.ts')],
    outdir: dir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    conditions: ['source'],
    logLevel: 'error',
    plugins: [plugin],
  })
}

interface Server {
  pid: number
  port: number
  out: string
  stop: () => void
}

async function startServer(contender: string, dir: string, env: NodeJS.ProcessEnv): Promise<Server> {
  const out = join(dir, `${contender.replace(/[^\w-]/g, '_')}.cg`)
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      `--callgrind-out-file=${out}`,
      '--instr-atstart=no',
      process.execPath,
      '--single-threaded',
      '--expose-gc',
      `--min-semi-space-size=${semiSpace}`,
      `--max-semi-space-size=${semiSpace}`,
      join(dir, isFastify(contender) ? 'fastify-server.mjs' : 'server.mjs'),
      contender,
    ],
    { cwd: here, env, stdio: ['ignore', 'pipe', 'pipe'] },
  )
  const port = await listeningPort(child, 600_000, `${contender} under valgrind`)
  return { pid: child.pid as number, port, out, stop: () => child.kill() }
}

/** GET `path` on the one keep-alive connection; the status and the body. */
function get(
  agent: Agent,
  port: number,
  authorization: string | undefined,
  path = '/stocks',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        agent,
        headers: authorization === undefined ? {} : { authorization },
        timeout: 120_000,
      },
      (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => {
          body += chunk
        })
        res.once('end', () => resolve({ status: res.statusCode ?? 0, body }))
      },
    )
    req.once('timeout', () => req.destroy(new Error('request timed out')))
    req.once('error', reject)
    req.end()
  })
}

// One-off work subtracted from a window (inclusive cost of each call): the JIT's compilations (lazy,
// Sparkplug, TurboFan: a steady-state server has paid them) and V8's collections (their count in a window is
// a matter of where the young generation happened to be; allocation is reported instead, in bytes).
const JIT =
  /^v8::internal::(Runtime_Compile\w*|Runtime_InstallBaselineCode|baseline::BaselineBatchCompiler::EnqueueFunction)\(/
const GC = /^v8::internal::(Heap::CollectGarbage|IncrementalMarking::AdvanceOnAllocation)\(/

/** A callgrind dump's total Ir and the inclusive Ir of the calls into JIT and GC. */
export function parseDump(text: string): { total: number; jit: number; gc: number } {
  const names = new Map<string, string>()
  const nameOf = (spec: string) => {
    const m = /^\((\d+)\)(?: (.*))?$/.exec(spec)
    if (m === null) return spec
    if (m[2] !== undefined) names.set(m[1] as string, m[2])
    return names.get(m[1] as string) ?? ''
  }
  let total = Number.NaN
  let jit = 0
  let gc = 0
  let callee = ''
  let call = false
  for (const line of text.split('\n')) {
    if (call) {
      // The line after calls=: position(s), then the inclusive cost of the call.
      const cost = Number(line.slice(line.lastIndexOf(' ') + 1))
      if (JIT.test(callee)) jit += cost
      else if (GC.test(callee)) gc += cost
      call = false
    } else if (line.startsWith('fn=')) nameOf(line.slice(3))
    else if (line.startsWith('cfn=')) callee = nameOf(line.slice(4))
    else if (line.startsWith('calls=')) call = true
    else if (/^(totals|summary):/.test(line)) total = Number(line.split(/\s+/)[1])
  }
  if (Number.isNaN(total)) throw new Error('no total in the callgrind dump')
  return { total, jit, gc }
}

function control(server: Server, command: string): void {
  execFileSync('callgrind_control', [command, String(server.pid)], { stdio: 'ignore' })
}

/** Dumps a server's counters (which zeroes them) and reads the dump. */
function dump(server: Server): { total: number; jit: number; gc: number } {
  control(server, '--dump')
  const base = basename(server.out)
  const dir = dirname(server.out)
  const latest = readdirSync(dir)
    .filter((f) => f.startsWith(`${base}.`))
    .map((f) => Number(f.slice(base.length + 1)))
    .filter(Number.isInteger)
    .sort((a, b) => b - a)[0]
  const file = join(dir, `${base}.${latest}`)
  const counts = parseDump(readFileSync(file, 'utf8'))
  if (process.env.COUNT_KEEP) copyFileSync(file, join(process.env.COUNT_KEEP, `${base}.${latest}`))
  rmSync(file)
  return counts
}

async function measure(
  contender: string,
  dir: string,
  env: NodeJS.ProcessEnv,
  o: Required<Omit<CountOptions, 'config' | 'caFile'>>,
): Promise<IrRow> {
  const row: IrRow = { contender, cells: {} }
  let server: Server
  try {
    server = await startServer(contender, dir, env)
  } catch (error) {
    row.note = String((error as Error).message).split('\n')[0] as string
    return row
  }
  const agent = new Agent({ keepAlive: true, maxSockets: 1 })
  let offset = 1
  const send = async (workload: Workload, n: number) => {
    const { header, valid } = requestsFor(o.pool, workload, contender, offset)
    offset += n
    let wrong = 0
    for (let k = 0; k < n; k++) {
      const { status } = await get(agent, server.port, header(k))
      if ((status >= 200 && status < 300) !== valid(k)) wrong++
    }
    return wrong
  }
  const heap = async (path: string) => Number((await get(agent, server.port, undefined, path)).body)
  try {
    for (const workload of noAuth(contender) ? (['warm'] as Workload[]) : o.workloads) {
      const t0 = Date.now()
      // Refusals during the warm-up (a key set still being fetched) are not counted.
      await send(workload, o.warmup)
      control(server, '--instr=on')
      let wrong = 0
      const windows: number[] = []
      let [jit, gc, allocated] = [0, 0, 0]
      for (let w = 0, retries = 0; w < o.windows; w++) {
        // A scavenge first: the window starts with an empty young generation, large enough for all of it. Not a
        // full GC: that discards optimized code whose maps died (an Express request's hidden class dies with
        // it), and every window re-tiered (Fastify's no-auth server read 80 kIr after one, 68 after a
        // scavenge; with entraguard 179 against 109).
        const before = await heap('/__gc')
        const majors = await heap('/__majors')
        control(server, '--zero')
        const missed = await send(workload, o.requests)
        const counts = dump(server)
        const after = await heap('/__heap')
        // A major GC that fell into the window (the old generation reached its limit) is not all subtracted
        // (incremental marking and sweeping run from allocation and tasks, and re-tiering follows): the
        // window is measured again, up to three times (one such window read 886 kIr, its neighbour 571).
        if ((await heap('/__majors')) !== majors && retries < 3) {
          retries++
          w--
          o.log(`${contender} ${workload}: a major GC fell into a window; measured again`)
          continue
        }
        wrong += missed
        allocated += after - before
        windows.push((counts.total - counts.jit - counts.gc) / o.requests)
        jit += counts.jit
        gc += counts.gc
      }
      control(server, '--instr=off')
      const per = o.requests * o.windows
      const ir = windows.reduce((a, b) => a + b, 0) / windows.length
      row.cells[workload] = { ir, windows, jit: jit / per, gc: gc / per, allocated: allocated / per, wrong }
      o.log(
        `${contender.padEnd(26)} ${workload.padEnd(7)} ${(ir / 1000).toFixed(1).padStart(7)} kIr/req ` +
          `(windows ${windows.map((x) => (x / 1000).toFixed(1)).join(', ')}; minus JIT ${(jit / per / 1000).toFixed(1)}, ` +
          `GC ${(gc / per / 1000).toFixed(1)}; ${(allocated / per / 1024).toFixed(1)} KiB allocated; ${wrong} wrong; ` +
          `${((Date.now() - t0) / 1000).toFixed(0)} s)`,
      )
    }
  } catch (error) {
    row.note = String((error as Error).message).split('\n')[0] as string
  } finally {
    agent.destroy()
    server.stop()
  }
  return row
}

/**
 * Instructions per request of each contender and workload, under callgrind.
 *
 * @example
 * const rows = await countHttp({ config, caFile, pool, contenders: ['express', 'entraguard'] })
 * console.log(httpCountMarkdown(rows).join('\n'))
 */
export async function countHttp(options: CountOptions): Promise<IrRow[]> {
  const o = {
    contenders: options.contenders ?? [...EXPRESS, ...FASTIFY],
    workloads: options.workloads ?? WORKLOADS,
    requests: options.requests ?? 100,
    warmup: options.warmup ?? 10_000,
    windows: options.windows ?? 2,
    jobs: options.jobs ?? Math.min(2, availableParallelism()),
    log: options.log ?? (() => {}),
    pool: options.pool,
  }
  const dir = mkdtempSync(join(tmpdir(), 'entraguard-http-count-'))
  const env = {
    ...process.env,
    NODE_EXTRA_CA_CERTS: options.caFile,
    BENCH_CONFIG: JSON.stringify(options.config),
  }
  try {
    await bundle(dir)
    const rows: IrRow[] = []
    const queue = [...o.contenders]
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift())
        rows.push(await measure(name, dir, env, o))
    }
    await Promise.all(Array.from({ length: Math.max(1, o.jobs) }, worker))
    return o.contenders.map((name) => rows.find((r) => r.contender === name) as IrRow)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

/** Ir per request of a contender in a workload (a no-auth server's WARM stands for every workload). */
export function irOf(rows: IrRow[], contender: string, workload: Workload): number {
  const row = rows.find((r) => r.contender === contender)
  if (row === undefined) return Number.NaN
  return row.cells[noAuth(contender) ? 'warm' : workload]?.ir ?? Number.NaN
}

/** The ratios of issue 9 from instruction counts, oriented as in run.ts's targets: ≥ the target is met. */
export const IR_TARGETS = {
  'cold-floor': {
    label: 'COLD: bare node:crypto floor ÷ entraguard (Express)',
    target: 0.95,
  },
  'cold-express-peers': { label: 'COLD: least Express peer ÷ entraguard', target: 1.15 },
  'cold-fastify-peers': { label: 'COLD: least Fastify peer ÷ fastify-entraguard', target: 1.15 },
  'warm-express': { label: 'WARM: express (no auth) ÷ entraguard', target: 0.92 },
  'warm-fastify': { label: 'WARM: fastify (no auth) ÷ fastify-entraguard', target: 0.92 },
  'warm-express-token': { label: 'WARM: express-with-token ÷ entraguard', target: 0.92 },
  'warm-fastify-token': { label: 'WARM: fastify-with-token ÷ fastify-entraguard', target: 0.92 },
  'mixed-express': { label: 'MIXED: mean of COLD and INVALID ÷ MIXED (entraguard)', target: 0.98 },
  'mixed-fastify': { label: 'MIXED: mean of COLD and INVALID ÷ MIXED (fastify-entraguard)', target: 0.98 },
} as const

/** A key of IR_TARGETS. */
export type IrTarget = keyof typeof IR_TARGETS

/**
 * The IR_TARGETS ratios of a count (NaN where a contender is missing).
 *
 * @example
 * irRatios(rows)['warm-express'] // express Ir ÷ entraguard Ir, WARM
 */
export function irRatios(rows: IrRow[]): Record<IrTarget, number> {
  const ir = (name: string, w: Workload) => irOf(rows, name, w)
  const least = (peers: string[], eg: string) => {
    const costs = peers.map((p) => ir(p, 'cold')).filter(Number.isFinite)
    return costs.length === 0 ? Number.NaN : Math.min(...costs) / ir(eg, 'cold')
  }
  const mixed = (eg: string) => (ir(eg, 'cold') + ir(eg, 'invalid')) / 2 / ir(eg, 'mixed')
  return {
    'cold-floor': ir('express-bare-crypto', 'cold') / ir('entraguard', 'cold'),
    'cold-express-peers': least(EXPRESS_PEERS, 'entraguard'),
    'cold-fastify-peers': least(FASTIFY_PEERS, 'fastify-entraguard'),
    'warm-express': ir('express', 'warm') / ir('entraguard', 'warm'),
    'warm-fastify': ir('fastify', 'warm') / ir('fastify-entraguard', 'warm'),
    'warm-express-token': ir('express-with-token', 'warm') / ir('entraguard', 'warm'),
    'warm-fastify-token': ir('fastify-with-token', 'warm') / ir('fastify-entraguard', 'warm'),
    'mixed-express': mixed('entraguard'),
    'mixed-fastify': mixed('fastify-entraguard'),
  }
}

const fmt = (x: number, digits: number) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a')

/**
 * The count as a Markdown section: kIr per request, the largest window-to-window spread, wrong answers.
 *
 * @example
 * console.log(httpCountMarkdown(rows).join('\n'))
 */
export function httpCountMarkdown(rows: IrRow[], requests?: number, warmup?: number): string[] {
  const lines = ['## HTTP: instructions per request (callgrind, deterministic)', '']
  lines.push(
    `Thousands of instructions (Ir) executed by the server process per request, under \`valgrind --tool=callgrind\`, ` +
      `one keep-alive connection, one request at a time${requests === undefined ? '' : `; ${warmup} requests of warm-up per workload, then the mean of windows of ${requests}`} ` +
      '(bracketed by `callgrind_control --zero`/`--dump`), JIT compilations and GC subtracted (one-off or lumpy; see the file). **spread**: largest difference between the windows of a cell. ' +
      'Instructions are not time: RSA verification runs at another IPC than JavaScript, and kernel work (sockets) is not ' +
      'counted; these ratios complement the CPU-time tables, they are stable where those are noisy. ' +
      'Standalone: `node --conditions=source --import tsx bench/http-count.ts`.',
    '',
    '| contender | WARM kIr | COLD kIr | MIXED kIr | INVALID kIr | WARM × | COLD × | spread | wrong |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  )
  for (const row of rows) {
    const cell = (w: Workload) => fmt(irOf(rows, row.contender, w) / 1000, 0)
    const base = isFastify(row.contender) ? 'fastify' : 'express'
    const ratio = (w: Workload) => fmt(irOf(rows, base, w) / irOf(rows, row.contender, w), 2)
    const cells = Object.values(row.cells)
    const spread = Math.max(0, ...cells.map((c) => (Math.max(...c.windows) - Math.min(...c.windows)) / c.ir))
    const wrong = cells.reduce((n, c) => n + c.wrong, 0)
    lines.push(
      `| ${row.contender}${row.note ? ` (${row.note})` : ''} | ${cell('warm')} | ${cell('cold')} | ${cell('mixed')} | ${cell('invalid')} | ${ratio('warm')} | ${ratio('cold')} | ${cells.length > 0 ? `${fmt(100 * spread, 1)} %` : 'n/a'} | ${wrong} |`,
    )
  }
  lines.push(
    '',
    '**×**: Ir of the same framework without auth ÷ Ir of the contender (as in the CPU-time tables).',
    '',
  )
  return lines
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { mintPool, startBenchIssuer } = await import('./setup.js')
  const started = Date.now()
  const { emu, config, dir, caFile } = await startBenchIssuer()
  const requests = Number(process.env.COUNT_REQUESTS ?? 100)
  const warmup = Number(process.env.COUNT_WARMUP ?? 10_000)
  const windows = Number(process.env.COUNT_WINDOWS ?? 2)
  const workloads = (process.env.BENCH_WORKLOADS?.split(',') as Workload[] | undefined) ?? WORKLOADS
  const rows = await countHttp({
    config,
    caFile,
    pool: mintPool(emu, 1 + workloads.length * (warmup + windows * requests)),
    ...(process.env.BENCH_ONLY === undefined ? {} : { contenders: process.env.BENCH_ONLY.split(',') }),
    workloads,
    requests,
    warmup,
    windows,
    jobs: Number(process.env.COUNT_JOBS ?? Math.min(2, availableParallelism())),
    log: (line) => console.log(line),
  })
  await emu.close()
  rmSync(dir, { recursive: true, force: true })
  console.log(`\n${httpCountMarkdown(rows, requests, warmup).join('\n')}`)
  const ratios = irRatios(rows)
  for (const [key, { label, target }] of Object.entries(IR_TARGETS)) {
    const value = ratios[key as IrTarget]
    if (Number.isFinite(value))
      console.log(
        `${label.padEnd(64)} ${value.toFixed(3)} (target ≥ ${target}: ${value >= target ? 'met' : 'not met'})`,
      )
  }
  console.log(`\n${((Date.now() - started) / 1000).toFixed(0)} s`)
  process.exit(0)
}
