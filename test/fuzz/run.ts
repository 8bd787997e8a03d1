// `pnpm fuzz [--seed N] [--runs M] [--path P] [--only name,name]`: the properties of fuzz.test.ts, run long.
// Prints the seed first and, for a failure, fast-check's seed, path and shrunk counterexample; replay with
// `pnpm fuzz --seed N --path P --only <name>`. Exit code 1 when a property fails.
import { parseArgs } from 'node:util'
import fc from 'fast-check'
import type { RunningApi } from '../support/apps.js'
import {
  differential,
  headerMutations,
  httpHeaderMutations,
  startFuzzApis,
  startFuzzContext,
  type Tally,
  tokenMutations,
} from './properties.js'

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    runs: { type: 'string', default: '10000' },
    path: { type: 'string' },
    only: { type: 'string' },
  },
})
const seed = Number(values.seed ?? Date.now())
const runs = Number(values.runs)
if (!Number.isSafeInteger(seed) || !Number.isSafeInteger(runs) || runs < 1) {
  console.error(
    'usage: pnpm fuzz [--seed <integer>] [--runs <count>] [--path <fast-check path>] [--only <names>]',
  )
  process.exit(2)
}

const ctx = await startFuzzContext()
const apis: RunningApi[] = await startFuzzApis(ctx, ['express5', 'fastify5'])
const tally: Tally = { accepted: 0, refused: 0 }
/** Runs one property and reduces fast-check's details to what the report needs. */
async function check<Ts>(property: fc.IAsyncProperty<Ts>, numRuns: number) {
  const result = await fc.check(property, {
    seed,
    numRuns,
    ...(values.path === undefined ? {} : { path: values.path }),
  })
  return {
    failed: result.failed,
    numRuns: result.numRuns,
    replay: `--seed ${result.seed} --path "${result.counterexamplePath ?? ''}"`,
    message: result.failed ? (fc.defaultReportMessage(result) ?? '') : '',
  }
}
const properties: Record<string, (numRuns: number) => ReturnType<typeof check>> = {
  tokens: (n) => check(tokenMutations(ctx), n),
  headers: (n) => check(headerMutations(ctx), n),
  differential: (n) => check(differential(ctx, tally), n),
  'http-express5': (n) =>
    check(
      httpHeaderMutations(ctx, () => apis[0] as RunningApi),
      n,
    ),
  'http-fastify5': (n) =>
    check(
      httpHeaderMutations(ctx, () => apis[1] as RunningApi),
      n,
    ),
}
const only = values.only?.split(',')
const unknown = only?.filter((name) => !(name in properties)) ?? []
if (unknown.length > 0) {
  console.error(
    `unknown property ${unknown.join(', ')}; the properties are ${Object.keys(properties).join(', ')}`,
  )
  process.exit(2)
}

console.log(
  `entraguard fuzz: seed ${seed}, ${runs} runs per property (HTTP properties: ${Math.ceil(runs / 4)})`,
)
let failed = false
for (const [name, run] of Object.entries(properties)) {
  if (only !== undefined && !only.includes(name)) continue
  const started = performance.now()
  const result = await run(name.startsWith('http') ? Math.ceil(runs / 4) : runs)
  const seconds = ((performance.now() - started) / 1000).toFixed(1)
  if (result.failed) {
    failed = true
    console.log(`✗ ${name}: failed after ${result.numRuns} runs (${seconds} s)`)
    console.log(result.message)
    console.log(`  replay: pnpm fuzz ${result.replay} --only ${name}`)
  } else {
    const counts = name === 'differential' ? ` (accepted ${tally.accepted}, refused ${tally.refused})` : ''
    console.log(`✓ ${name}: ${result.numRuns} runs in ${seconds} s${counts}`)
  }
}

await Promise.all(apis.map((a) => a.close()))
await ctx.close()
process.exit(failed ? 1 : 0)
