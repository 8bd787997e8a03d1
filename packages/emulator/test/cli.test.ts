import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url))
const config = fileURLToPath(new URL('../../../examples/stock-api/emulator.json', import.meta.url))

function run(args: string[], until: RegExp | null): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', cli, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
  const onData = (c: Buffer) => {
    output += c.toString()
    if (until?.test(output)) child.kill('SIGTERM')
  }
  child.stdout.on('data', onData)
  child.stderr.on('data', onData)
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, output })
    }),
  )
}

describe('entraguard-emulator CLI', () => {
  it('starts from a config file, prints the endpoints and env vars, and stops on SIGTERM', async () => {
    const { code, output } = await run(['--config', config], /Identity night-vm/)
    expect(output).toMatch(/listening on http:\/\/127\.0\.0\.1:\d+/)
    expect(output).toContain('AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:')
    expect(output).toContain('IDENTITY_HEADER=')
    expect(output).toContain('72f988bf-86f1-41af-91ab-2d7cd011db47')
    expect(code).toBe(0)
  })

  it('explains a bad config file and exits 2', async () => {
    const { code, output } = await run(['--config', '/nonexistent.json'], null)
    expect(code).toBe(2)
    expect(output).toContain('Cannot load /nonexistent.json')
    const bad = await run(['--port', 'abc'], null)
    expect(bad.code).toBe(2)
    expect(bad.output).toContain('--port must be a port number')
  })
})
