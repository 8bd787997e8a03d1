// Instructions per call, deterministically, for work on the hot path on a noisy shared machine.
// `node --conditions=source --import tsx bench/count.ts prepare` mints tokens into $TMPDIR/entraguard-count.json.
// `node --conditions=source --import tsx bench/count.ts report [tasks]` does both runs per task under
// `valgrind --tool=callgrind` and prints (I(n2) - I(n1)) / (n2 - n1): start-up and JIT cancel out.
// No network under valgrind: the validator's fetch is served from the documents recorded by `prepare`.
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = fileURLToPath(new URL('.', import.meta.url))
const file = join(tmpdir(), 'entraguard-count.json')
const [command = 'report', ...rest] = process.argv.slice(2)

interface Recorded {
  authority: string
  tenant: string
  audience: string
  issuer: string
  jwksUri: string
  documents: Record<string, unknown>
  tokens: string[]
}

const TASKS = [
  'accept-new',
  'accept-cached',
  'forged',
  'garbage-xyz',
  'wrong-scheme',
  'two-segments',
  'floor',
  'authenticate-cached',
] as const

if (command === 'prepare') {
  const { startEmulator } = await import('@entraguard/emulator')
  const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
  const emu = await startEmulator({
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
  const tenant = emu.tenantId
  const urls = [
    `${emu.authority}/${tenant}/v2.0/.well-known/openid-configuration`,
    `${emu.authority}/${tenant}/.well-known/openid-configuration`,
    `${emu.authority}/${tenant}/discovery/v2.0/keys`,
  ]
  const documents: Record<string, unknown> = {}
  for (const url of urls) documents[url] = await (await fetch(url)).json()
  const tokens = Array.from({ length: 6000 }, () => emu.mintToken({ managedIdentity: 'vm', version: 2 }))
  const recorded: Recorded = {
    authority: emu.authority,
    tenant,
    audience: API,
    issuer: `https://login.microsoftonline.com/${tenant}/v2.0`,
    jwksUri: urls[2] as string,
    documents,
    tokens,
  }
  writeFileSync(file, JSON.stringify(recorded))
  await emu.close()
  console.log(`wrote ${file}`)
} else if (command === 'run') {
  const [task = 'accept-new', count = '1000'] = rest
  const n = Number(count)
  const r = JSON.parse(readFileSync(file, 'utf8')) as Recorded
  const { authenticate, createValidator } = await import('@entraguard/core')
  const { bareVerifier } = await import('./floor.js')
  const stub = (async (input: string | URL | Request) => {
    const url = String(input instanceof Request ? input.url : input)
    const body = r.documents[url]
    return new Response(JSON.stringify(body ?? {}), {
      status: body === undefined ? 404 : 200,
      headers: { 'content-type': 'application/json' },
    })
  }) as typeof fetch
  const options = { tenant: r.tenant, audience: r.audience, authority: r.authority, fetch: stub }
  const cold = createValidator({ ...options, cache: false })
  const warm = createValidator(options)
  await cold.warm()
  await warm.warm()
  const realFetch = globalThis.fetch
  globalThis.fetch = stub
  const bare = await bareVerifier(r)
  globalThis.fetch = realFetch
  const ignore = () => {}
  const two = (r.tokens[0] as string).split('.').slice(0, 2).join('.')
  const forge = (t: string) => `${t.slice(0, -6)}${t.endsWith('AAAAAA') ? 'BAAAAA' : 'AAAAAA'}`
  await warm.validate(r.tokens[0])
  await warm.validate(r.tokens[0])
  const raw = ['Host', '127.0.0.1', 'Authorization', `Bearer ${r.tokens[0]}`, 'Accept', '*/*']
  const call: Record<(typeof TASKS)[number], (k: number) => unknown> = {
    'accept-new': (k) => cold.validate(`Bearer ${r.tokens[k % r.tokens.length]}`),
    'accept-cached': () => warm.validate(`Bearer ${r.tokens[0]}`),
    forged: (k) => cold.validate(`Bearer ${forge(r.tokens[k % r.tokens.length] as string)}`).catch(ignore),
    'garbage-xyz': () => cold.validate('Bearer x.y.z').catch(ignore),
    'wrong-scheme': () => cold.validate('Basic dXNlcjpwYXNz').catch(ignore),
    'two-segments': () => cold.validate(`Bearer ${two}`).catch(ignore),
    floor: (k) => bare(r.tokens[k % r.tokens.length]),
    'authenticate-cached': () => authenticate(warm, { headers: raw, url: '/stocks', body: undefined }),
  }
  if (task === 'heap') {
    // Heap per cached token after GC (needs --expose-gc): n tokens, each validated twice (admitted on the second).
    const gc = (globalThis as { gc?: () => void }).gc as () => void
    gc()
    const before = process.memoryUsage().heapUsed
    const v = createValidator({ ...options, cache: { maxEntries: n } })
    await v.warm()
    for (let round = 0; round < 2; round++)
      for (let k = 0; k < n; k++) await v.validate(`Bearer ${r.tokens[k]}`)
    gc()
    console.log(
      `heap ${((process.memoryUsage().heapUsed - before) / v.stats.cachedTokens).toFixed(0)} B per cached token (${v.stats.cachedTokens})`,
    )
    process.exit(0)
  }
  const fn = call[task as (typeof TASKS)[number]]
  if (fn === undefined) throw new Error(`unknown task ${task}`)
  // Warm-up past the JIT tiers, with other tokens than the measured ones where it matters.
  const warmup = Number(process.env.COUNT_WARMUP ?? 2000)
  for (let k = 0; k < warmup; k++) await fn(r.tokens.length - 1 - (k % 1000))
  const other =
    process.env.COUNT_AB === undefined ? undefined : call[process.env.COUNT_AB as (typeof TASKS)[number]]
  if (other !== undefined) {
    // Interleaved A/B in one process: batches of each in turn, median of the per-round ratios (robust to load).
    for (let k = 0; k < warmup; k++) await other(r.tokens.length - 1 - (k % 1000))
    const a: number[] = []
    const b: number[] = []
    for (let round = 0; round < 21; round++) {
      for (const [f, out] of [
        [fn, a],
        [other, b],
      ] as const) {
        const t0 = performance.now()
        for (let k = 0; k < n; k++) await f(round * n + k)
        out.push(((performance.now() - t0) * 1000) / n)
      }
    }
    const mid = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1] as number
    const ratios = a.map((x, i) => x / (b[i] as number))
    console.log(
      `${task} ${mid(a).toFixed(2)} µs, ${process.env.COUNT_AB} ${mid(b).toFixed(2)} µs, ratio ${mid(ratios).toFixed(3)} (median of 21 interleaved rounds)`,
    )
  } else if (process.env.COUNT_TIME === undefined) {
    for (let k = 0; k < n; k++) await fn(k)
  } else {
    // Wall time instead, median of 15 batches of n: a quick check when valgrind is too slow.
    const batches: number[] = []
    for (let b = 0; b < 15; b++) {
      const t0 = performance.now()
      for (let k = 0; k < n; k++) await fn(b * n + k)
      batches.push(((performance.now() - t0) * 1000) / n)
    }
    console.log(`${task} ${(batches.sort((x, y) => x - y)[7] as number).toFixed(2)} µs per call`)
  }
  cold.close()
  warm.close()
} else {
  if (!existsSync(file))
    execFileSync(process.execPath, ['--conditions=source', '--import', 'tsx', 'count.ts', 'prepare'], {
      cwd: here,
      stdio: 'inherit',
    })
  const tasks = rest.length > 0 ? rest : [...TASKS]
  const [n1, n2] = [Number(process.env.COUNT_N1 ?? 200), Number(process.env.COUNT_N2 ?? 1200)]
  const instructions = (task: string, n: number): number => {
    const out = join(tmpdir(), `entraguard-callgrind.${process.pid}`)
    execFileSync(
      'valgrind',
      [
        '--tool=callgrind',
        `--callgrind-out-file=${out}`,
        process.execPath,
        '--single-threaded',
        '--conditions=source',
        '--import',
        'tsx',
        'count.ts',
        'run',
        task,
        String(n),
      ],
      { cwd: here, stdio: ['ignore', 'ignore', 'pipe'] },
    )
    const summary = /^summary:\s*(\d+)/m.exec(readFileSync(out, 'utf8'))
    rmSync(out)
    return Number(summary?.[1])
  }
  for (const task of tasks) {
    const per = (instructions(task, n2) - instructions(task, n1)) / (n2 - n1)
    console.log(`${task.padEnd(22)} ${(per / 1000).toFixed(1).padStart(8)} k instructions per call`)
  }
}
