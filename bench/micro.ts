// Per-call costs, in one process pinned to one core: validation (entraguard, the bare node:crypto floor, jose,
// aws-jwt-verify), refusals (garbage, a wrong scheme, two segments, a forged signature), RBAC decisions at 10
// and 10,000 assignments, and the heap of the validated-token cache at BENCH_CACHE_SIZES entries.
// env BENCH_CONFIG (as server.ts) and BENCH_TOKENS = path of a JSON array of distinct valid tokens.
// Each figure is the median of batches of ~20 ms (a batch pays its share of garbage collection), the tasks
// interleaved batch by batch.
import { readFileSync } from 'node:fs'
import { createPolicy, createValidator, type Principal } from '@entraguard/core'
import { JwtRsaVerifier } from 'aws-jwt-verify'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { bareVerifier } from './floor.js'
import { benchConfig } from './setup.js'

const c = benchConfig()
// The per-call phase holds only the tokens it cycles: 100,000 tokens are ~150 MB of strings whose marking
// would charge every allocating task with extra GC. The heap phase reads the file again.
const readTokens = () => JSON.parse(readFileSync(process.env.BENCH_TOKENS ?? '', 'utf8')) as string[]
let tokens = readTokens().slice(0, 20_000)
const jwks = (await (await fetch(c.jwksUri)).json()) as { keys: object[] }
const budget = Number(process.env.BENCH_MICRO_MS ?? 600)
const cacheSizes = (process.env.BENCH_CACHE_SIZES ?? '10000,100000').split(',').map(Number)

/** warm(), retried: a pooled connection to the emulator may have been closed while the benchmarks ran. */
async function warmUp(v: { warm(): Promise<void> }): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await v.warm()
    } catch (err) {
      if (attempt >= 5) throw err
      await new Promise((resolve) => setTimeout(resolve, 1200)) // past the validator's retry cooldown
    }
  }
}

const cold = createValidator({ tenant: c.tenant, audience: c.audience, authority: c.authority, cache: false })
const warm = createValidator({ tenant: c.tenant, audience: c.audience, authority: c.authority })
await warmUp(cold)
await warmUp(warm)
const bare = await bareVerifier(c)
const localJwks = createLocalJWKSet(jwks as never)
const aws = JwtRsaVerifier.create({ issuer: c.issuer, audience: c.audience, jwksUri: c.jwksUri })
aws.cacheJwks(jwks as never)

const token = tokens[0] as string
const cycle = tokens.length
let i = 0
const next = () => tokens[i++ % cycle] as string
// Every header is a flat string made before the batches, as a server gets it from the HTTP parser: a string
// concatenated per call would charge the validator for flattening it, and one reused string object would
// let the cache compare it by identity.
const flat = <T>(values: T): T => JSON.parse(JSON.stringify(values)) as T
const forgedPool = flat(tokens.map((t) => `${t.slice(0, -6)}${t.endsWith('AAAAAA') ? 'BAAAAA' : 'AAAAAA'}`))
let f = 0
const forged = () => forgedPool[f++ % forgedPool.length] as string
const reusedPool = flat(Array.from({ length: 1000 }, () => `Bearer ${token}`))
let u = 0
const reused = () => reusedPool[u++ % reusedPool.length] as string
const twoSegments = flat(`Bearer ${token.split('.').slice(0, 2).join('.')}`)
const ignore = () => {}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? Number.NaN : (s[s.length >> 1] as number)
}

/** One timed batch of n calls, in µs per call. */
async function batch(fn: () => unknown, n: number): Promise<number> {
  const t0 = performance.now()
  for (let k = 0; k < n; k++) {
    const r = fn()
    if (r instanceof Promise) await r
  }
  return ((performance.now() - t0) * 1000) / n
}

const principal = (await warm.validate(token)) as Principal
const assignments = (n: number) =>
  Array.from({ length: n }, (_, k) => ({
    role: 'Reader',
    objectId: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`,
    scope: `/portfolios/p${k}`,
  }))
const policy = (n: number) =>
  createPolicy({
    roles: { Reader: { actions: ['stocks/read'] }, Trader: { actions: ['stocks/*'] } },
    assignments: [...assignments(n - 1), { role: 'Trader', appRole: 'Stocks.Read' }],
  })
const small = policy(10)
const large = policy(10_000)

const tasks: [string, () => unknown][] = [
  ['entraguard: accept a new token (cache off)', () => cold.validate(next())],
  ['entraguard: accept a reused token (cache hit)', () => warm.validate(reused())],
  ['entraguard: refuse a forged signature', () => cold.validate(forged()).catch(ignore)],
  ['entraguard: refuse `Bearer x.y.z`', () => cold.validate('Bearer x.y.z').catch(ignore)],
  ['entraguard: refuse a wrong scheme (`Basic …`)', () => cold.validate('Basic dXNlcjpwYXNz').catch(ignore)],
  ['entraguard: refuse two segments', () => cold.validate(twoSegments).catch(ignore)],
  ['floor: bare node:crypto verify + exp/iss/aud, new token', () => bare(next())],
  [
    'jose jwtVerify, local key set (no Entra checks)',
    () => jwtVerify(next(), localJwks, { issuer: c.issuer, audience: c.audience, algorithms: ['RS256'] }),
  ],
  ['aws-jwt-verify verifySync, cached key set', () => aws.verifySync(next())],
  [
    'policy.authorize, 10 assignments',
    () => small.authorize(principal, 'stocks/trade', '/portfolios/contoso/AAPL'),
  ],
  [
    'policy.authorize, 10,000 assignments',
    () => large.authorize(principal, 'stocks/trade', '/portfolios/contoso/AAPL'),
  ],
]
// Interleaved: one ~20 ms batch of every task per round, so that the load of a shared machine falls on all
// of them alike (their ratios are what matter); the median of the rounds per task.
const sizes: number[] = []
for (const [, fn] of tasks) {
  await batch(fn, 300) // warm-up
  sizes.push(Math.max(50, Math.round(20_000 / Math.max(await batch(fn, 300), 0.01))))
}
const samples: number[][] = tasks.map(() => [])
const end = performance.now() + budget * tasks.length
for (let round = 0; performance.now() < end || round < 5; round++) {
  for (const [t, [, fn]] of tasks.entries()) samples[t]?.push(await batch(fn, sizes[t] as number))
  process.stderr.write('.')
}
process.stderr.write('\n')
const rows = tasks.map(([task], t) => ({
  task: task.replace(/^entraguard: /, ''),
  usPerCall: median(samples[t] ?? []),
}))
cold.close()
warm.close()

// Heap of the validated-token cache: growth for n distinct cached validations, measured after GC, including
// the cache's own structures (created inside the measurement).
const gc = (globalThis as { gc?: () => void }).gc
const heap: { entries: number; bytesPerEntry: number }[] = []
if (cacheSizes.some((n) => n > tokens.length)) tokens = readTokens()
for (const n of cacheSizes) {
  if (gc === undefined || !(n > 0) || tokens.length < n) continue
  gc()
  gc()
  const before = process.memoryUsage().heapUsed
  const fresh = createValidator({
    tenant: c.tenant,
    audience: c.audience,
    authority: c.authority,
    cache: { maxEntries: n },
  })
  await warmUp(fresh)
  // Twice each: the cache admits a token on its second sighting.
  for (let k = 0; k < n; k++) await fresh.validate(tokens[k] as string)
  for (let k = 0; k < n; k++) await fresh.validate(tokens[k] as string)
  gc()
  gc()
  const cached = fresh.stats.cachedTokens
  heap.push({ entries: cached, bytesPerEntry: (process.memoryUsage().heapUsed - before) / cached })
  fresh.close()
}
process.stdout.write(`${JSON.stringify({ rows, heap })}\n`)
