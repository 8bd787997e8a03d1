// Runs core's Fetch entry (authenticateRequest + toResponse) and a Hono app with @entraguard/hono under Node, Bun
// and Deno against one emulator, and compares what each answers. The packages load from their dist/ (run
// `pnpm build` first).
//   node --conditions=source --import tsx test/runtimes/run.ts [node] [bun] [deno] [--from <dir>]
// --from names another project whose node_modules hold `bun` / `deno` (e.g. a scratch install outside the repo).
// Bun and Deno come from the npm packages `bun` and `deno` (devDependencies of test/): their binaries live in
// platform packages (@oven/bun-linux-x64, @deno/linux-x64-glibc), found here without their postinstall scripts,
// which pnpm does not run.
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { startEmulator } from '@entraguard/emulator'

export type Runtime = 'node' | 'bun' | 'deno'
export const RUNTIMES: Runtime[] = ['node', 'bun', 'deno']

const here = dirname(fileURLToPath(import.meta.url))
const entry = join(here, 'fetch-entry.mjs')
const testsDir = join(here, '..')

/** What fetch-entry.mjs prints: one answer per request it tries. */
export interface Report {
  runtime: string
  crash?: string
  [request: string]: unknown
}

/** The platform binary of the `bun` or `deno` npm package installed for `from` (test/), or undefined. */
export function binaryOf(runtime: 'bun' | 'deno', from = testsDir): string | undefined {
  let manifest: string
  try {
    manifest = createRequire(join(from, 'package.json')).resolve(`${runtime}/package.json`)
  } catch {
    return undefined
  }
  const { optionalDependencies = {} } = JSON.parse(readFileSync(manifest, 'utf8')) as {
    optionalDependencies?: Record<string, string>
  }
  const fromPackage = createRequire(manifest)
  for (const name of Object.keys(optionalDependencies)) {
    let dir: string
    try {
      dir = dirname(fromPackage.resolve(`${name}/package.json`))
    } catch {
      continue
    }
    const binary = join(dir, runtime === 'bun' ? 'bin/bun' : 'deno')
    if (existsSync(binary)) return binary
  }
  return undefined
}

function commandFor(runtime: Runtime, from: string): string[] | undefined {
  if (runtime === 'node') return [process.execPath, entry]
  const binary = binaryOf(runtime, from)
  if (binary === undefined) return undefined
  if (runtime === 'bun') return [binary, entry]
  return [
    binary,
    'run',
    '--no-lock',
    '--no-prompt',
    '--allow-net=127.0.0.1',
    '--allow-read',
    '--allow-env',
    entry,
  ]
}

/** Runs fetch-entry.mjs under a runtime (bounded to 30 s) and returns its report. */
export function runUnder(
  runtime: Runtime,
  input: { tenant: string; audience: string; authority: string; token: string },
  from = testsDir,
): Promise<Report> {
  const command = commandFor(runtime, from)
  if (command === undefined) {
    return Promise.reject(new Error(`${runtime} is not installed: add the npm package '${runtime}' to test/`))
  }
  const [bin, ...args] = command as [string, ...string[]]
  return new Promise((resolve, reject) => {
    const child = spawn(bin, [...args, JSON.stringify(input)], {
      cwd: here,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    child.on('error', reject)
    child.on('close', (code) => {
      clearTimeout(timer)
      const line = out.trim().split('\n').at(-1) ?? ''
      try {
        resolve(JSON.parse(line) as Report)
      } catch {
        reject(new Error(`${runtime} exited with ${code}: ${err.slice(0, 2000)}`))
      }
    })
  })
}

/** The status each request of fetch-entry.mjs must get. */
export const EXPECTED_STATUS: Record<string, number> = {
  valid: 200,
  cached: 200,
  missing: 401,
  twoHeaders: 400,
  garbage: 401,
  queryAndHeader: 400,
  honoValid: 200,
  honoDenied: 403,
  honoTwoHeaders: 400,
}

/** Differences between a runtime's report and the expected statuses, and (byte for byte) Node's report. */
export function differences(report: Report, reference: Report): string[] {
  if (report.crash !== undefined) return [`crashed: ${report.crash}`]
  const problems: string[] = []
  for (const [request, status] of Object.entries(EXPECTED_STATUS)) {
    const got = (report[request] as { status?: number } | undefined)?.status
    if (got !== status) problems.push(`${request}: status ${got} instead of ${status}`)
  }
  for (const [request, expected] of Object.entries(reference)) {
    if (request === 'runtime' || request === 'crash') continue
    const got = JSON.stringify(report[request])
    if (got !== JSON.stringify(expected))
      problems.push(`${request}: ${got} instead of ${JSON.stringify(expected)}`)
  }
  return problems
}

async function main(runtimes: Runtime[], from: string): Promise<number> {
  const emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read'] }] })
  try {
    const input = {
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
      token: emu.mintToken({
        audience: 'api://stock-api',
        roles: ['Stocks.Read'],
        clientId: 'runtime-check',
      }),
    }
    const reference = await runUnder('node', input)
    let failed = 0
    for (const runtime of runtimes) {
      const report = await runUnder(runtime, input, from).catch((e: unknown) => ({
        runtime,
        crash: String(e),
      }))
      const problems = differences(report, reference)
      if (problems.length > 0) failed++
      console.log(`${problems.length === 0 ? 'ok  ' : 'FAIL'} ${report.runtime}`)
      for (const p of problems) console.log(`     ${p}`)
    }
    return failed
  } finally {
    await emu.close()
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2)
  const at = args.indexOf('--from')
  const from = at === -1 ? testsDir : (args[at + 1] ?? testsDir)
  const wanted = args.filter((a): a is Runtime => (RUNTIMES as string[]).includes(a))
  main(wanted.length > 0 ? wanted : RUNTIMES, from).then(
    (failed) => {
      process.exitCode = failed === 0 ? 0 : 1
    },
    (err: unknown) => {
      console.error(err)
      process.exitCode = 2
    },
  )
}
