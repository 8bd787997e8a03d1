import { createValidator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { entraAuth } from '@entraguard/fastify'
import Fastify from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api' }] })
})
afterAll(async () => {
  await emu.close()
})

// Nothing listens on port 1: the metadata is out of reach, which preflight reports as an error.
const unreachable = { audience: 'api://stock-api', authority: 'http://127.0.0.1:1', jwks: { timeout: 300 } }

describe('entraAuth plugin { preflight }', () => {
  it("'fail' makes ready() reject with the problems and their fixes", async () => {
    const app = Fastify()
    app.register(entraAuth, { tenant: emu.tenantId, ...unreachable, preflight: 'fail' })
    await expect(app.ready()).rejects.toThrow(/\[metadata_unreachable\][\s\S]*fix: /)
    await app.close()
  })

  it("'warn' logs the problems and starts; a good configuration starts in 'fail' mode", async () => {
    const logged: string[] = []
    const stream = { write: (line: string) => logged.push(line) }
    const warned = Fastify({ logger: { level: 'warn', stream } })
    const validator = createValidator({ tenant: emu.tenantId, ...unreachable })
    await warned.register(entraAuth, { validator, preflight: 'warn' })
    await expect(warned.ready()).resolves.toBeDefined()
    expect(logged.join('')).toContain('metadata_unreachable')
    await warned.close()
    validator.close()

    const good = Fastify()
    const ok = { tenant: emu.tenantId, audience: 'api://stock-api', tokenVersions: [1 as const] }
    await good.register(entraAuth, { ...ok, authority: emu.authority, preflight: 'fail' })
    await expect(good.ready()).resolves.toBeDefined()
    await good.close()
  })
})
