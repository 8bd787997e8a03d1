import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { binaryOf, differences, type Report, runUnder } from './run.js'

// Core's Fetch entry and @entraguard/hono under Bun and Deno (from the npm registry's `bun` and `deno`
// packages) answer byte for byte like Node. The packages load from dist/: `pnpm test` builds first.
let emu: Emulator
let input: { tenant: string; audience: string; authority: string; token: string }
let reference: Report
beforeAll(async () => {
  emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read'] }] })
  input = {
    tenant: emu.tenantId,
    audience: 'api://stock-api',
    authority: emu.authority,
    token: emu.mintToken({ audience: 'api://stock-api', roles: ['Stocks.Read'], clientId: 'runtime-check' }),
  }
  reference = await runUnder('node', input)
}, 40_000)
afterAll(async () => {
  await emu.close()
})

describe('Fetch runtimes', () => {
  it('node answers every request with the expected status', () => {
    expect(differences(reference, reference)).toEqual([])
    expect(reference.runtime).toMatch(/^node v20\./)
  })

  it.each(['bun', 'deno'] as const)(
    '%s is installed and answers exactly like node',
    async (runtime) => {
      expect(binaryOf(runtime), `the npm package '${runtime}' must be installed in test/`).toBeDefined()
      const report = await runUnder(runtime, input)
      expect(report.runtime).toMatch(new RegExp(`^${runtime} `))
      expect(differences(report, reference)).toEqual([])
    },
    40_000,
  )
})
