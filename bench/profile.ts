// Profiles one contender (Express or Fastify, as run.ts names them) under cold, warm, invalid or mixed load:
// `node --conditions=source --import tsx bench/profile.ts entraguard cold`.
// Writes a .cpuprofile to bench/profiles/ (open it in Chrome DevTools) and prints the top self-time functions.
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import autocannon from 'autocannon'
import { listeningPort, mintPool, startBenchIssuer } from './setup.js'

const [contender = 'entraguard', mode = 'cold'] = process.argv.slice(2)
const here = fileURLToPath(new URL('.', import.meta.url))
const { emu, config, caFile } = await startBenchIssuer()
const pool = mintPool(emu, 20_000)
const profiles = join(here, 'profiles')
const child = spawn(
  process.execPath,
  [
    '--cpu-prof',
    `--cpu-prof-dir=${profiles}`,
    '--conditions=source',
    '--import',
    'tsx',
    contender.startsWith('fastify') ? 'fastify-server.ts' : 'server.ts',
    contender,
  ],
  {
    cwd: here,
    env: { ...process.env, NODE_EXTRA_CA_CERTS: caFile, BENCH_CONFIG: JSON.stringify(config) },
    stdio: ['ignore', 'pipe', 'inherit'],
  },
)
const port = await listeningPort(child, 60_000, contender)
let k = 0
// The refusals of run.ts's INVALID workload, in turn; MIXED alternates them with new valid tokens.
const twoSegments = (pool[0] as string).split('.').slice(0, 2).join('.')
const bad = (n: number) => {
  const t = pool[n % pool.length] as string
  return [
    'Bearer x.y.z',
    'Basic dXNlcjpwYXNzd29yZA==',
    `Bearer ${twoSegments}`,
    `Bearer ${t.slice(0, -6)}${t.endsWith('AAAAAA') ? 'BAAAAA' : 'AAAAAA'}`,
  ][n % 4] as string
}
const header = (n: number): string => {
  switch (mode) {
    case 'warm':
      return `Bearer ${pool[0]}`
    case 'invalid':
      return bad(n)
    case 'mixed':
      return n % 2 === 0 ? `Bearer ${pool[(n >> 1) % pool.length]}` : bad(n >> 1)
    default:
      return `Bearer ${pool[n % pool.length]}`
  }
}
const result = await autocannon({
  url: `http://127.0.0.1:${port}`,
  connections: 8,
  duration: 5,
  requests: [
    {
      method: 'GET',
      path: '/stocks',
      setupRequest: (req) => ({ ...req, headers: { authorization: header(k++) } }),
    },
  ],
})
console.log(`${contender} ${mode}: ${result.requests.average} req/s, non-2xx ${result.non2xx}`)
child.kill('SIGINT')
await new Promise((r) => child.once('exit', r))
await emu.close()
type Profile = {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]
  samples: number[]
}
// The run writes one profile per thread (the TypeScript loader has its own); the main thread has the most samples.
const recent = readdirSync(profiles)
  .filter((f) => f.endsWith('.cpuprofile'))
  .sort()
  .slice(-2)
const profile = recent
  .map((f) => JSON.parse(readFileSync(join(profiles, f), 'utf8')) as Profile)
  .sort((a, b) => b.samples.length - a.samples.length)[0] as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<string, number>()
for (const id of profile.samples) {
  const f = byId.get(id)?.callFrame
  const key = `${f?.functionName || '(anonymous)'} ${f?.url.split('/').slice(-2).join('/')}:${f?.lineNumber}`
  self.set(key, (self.get(key) ?? 0) + 1)
}
for (const [key, n] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 25)) {
  console.log(`${((100 * n) / profile.samples.length).toFixed(1).padStart(5)}%  ${key}`)
}
