// Per-call costs, in one process pinned to one core: validation (entraguard, jose, aws-jwt-verify),
// refusal of garbage, RBAC decisions at 10 and 10,000 assignments, and the memory of the token cache.
// env BENCH_CONFIG (as server.ts) and BENCH_TOKENS = path of a JSON array of distinct valid tokens.
import { readFileSync } from 'node:fs'
import { createPolicy, createValidator, type Principal } from '@entraguard/core'
import { JwtRsaVerifier } from 'aws-jwt-verify'
import { createLocalJWKSet, jwtVerify } from 'jose'
import { Bench } from 'tinybench'
import { benchConfig } from './setup.js'

const c = benchConfig()
const tokens = JSON.parse(readFileSync(process.env.BENCH_TOKENS ?? '', 'utf8')) as string[]
const jwks = (await (await fetch(c.jwksUri)).json()) as { keys: object[] }

const cold = createValidator({ tenant: c.tenant, audience: c.audience, authority: c.authority, cache: false })
const warm = createValidator({ tenant: c.tenant, audience: c.audience, authority: c.authority })
await cold.warm()
await warm.warm()
const localJwks = createLocalJWKSet(jwks as never)
const aws = JwtRsaVerifier.create({ issuer: c.issuer, audience: c.audience, jwksUri: c.jwksUri })
aws.cacheJwks(jwks as never)

const token = tokens[0] as string
let i = 0
const next = () => tokens[i++ % tokens.length] as string
const garbage = `${token.slice(0, -10)}AAAAAAAAAA`

const bench = new Bench({ time: Number(process.env.BENCH_MICRO_MS ?? 1000), warmupTime: 200 })
bench
  .add('entraguard validate, new token each call (cache off)', async () => {
    await cold.validate(next())
  })
  .add('entraguard validate, reused token (cache hit)', async () => {
    await warm.validate(token)
  })
  .add('jose jwtVerify, local key set (no Entra checks)', async () => {
    await jwtVerify(next(), localJwks, { issuer: c.issuer, audience: c.audience, algorithms: ['RS256'] })
  })
  .add('aws-jwt-verify verifySync, cached key set', () => {
    aws.verifySync(next())
  })
  .add('entraguard refuses a forged signature', async () => {
    await cold.validate(garbage).catch(() => {})
  })
  .add('entraguard refuses garbage ("Bearer x.y.z")', async () => {
    await cold.validate('Bearer x.y.z').catch(() => {})
  })

const principal = (await warm.validate(token)) as Principal
const assignments = (n: number) =>
  Array.from({ length: n }, (_, k) => ({
    role: 'Reader',
    objectId: `00000000-0000-4000-8000-${String(k).padStart(12, '0')}`,
    scope: `/portfolios/p${k}`,
  }))
const small = createPolicy({
  roles: { Reader: { actions: ['stocks/read'] }, Trader: { actions: ['stocks/*'] } },
  assignments: [...assignments(9), { role: 'Trader', appRole: 'Stocks.Read' }],
})
const large = createPolicy({
  roles: { Reader: { actions: ['stocks/read'] }, Trader: { actions: ['stocks/*'] } },
  assignments: [...assignments(9_999), { role: 'Trader', appRole: 'Stocks.Read' }],
})
bench
  .add('policy.authorize, 10 assignments', () => {
    small.authorize(principal, 'stocks/trade', '/portfolios/contoso/AAPL')
  })
  .add('policy.authorize, 10,000 assignments', () => {
    large.authorize(principal, 'stocks/trade', '/portfolios/contoso/AAPL')
  })

await bench.run()

const rows = bench.tasks.map((t) => {
  const r = t.result as { latency?: { mean?: number }; throughput?: { mean?: number } } | undefined
  const meanMs = r?.latency?.mean ?? Number.NaN
  return { task: t.name, usPerCall: meanMs * 1000, callsPerSecond: r?.throughput?.mean ?? Number.NaN }
})

// Memory of the validated-token cache: heap growth for 10,000 distinct cached validations.
const gc = (globalThis as { gc?: () => void }).gc
let cacheBytesPerEntry = Number.NaN
if (gc !== undefined) {
  const fresh = createValidator({
    tenant: c.tenant,
    audience: c.audience,
    authority: c.authority,
    cache: { maxEntries: 10_000 },
  })
  await fresh.warm()
  gc()
  const before = process.memoryUsage().heapUsed
  const n = Math.min(10_000, tokens.length)
  // Twice each: the cache admits a token on its second sighting.
  for (let k = 0; k < n; k++) await fresh.validate(tokens[k] as string)
  for (let k = 0; k < n; k++) await fresh.validate(tokens[k] as string)
  gc()
  cacheBytesPerEntry = (process.memoryUsage().heapUsed - before) / n
  fresh.close()
}
cold.close()
warm.close()
process.stdout.write(`${JSON.stringify({ rows, cacheBytesPerEntry })}\n`)
