import { ConfigurationError, createValidator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { entraAuth } from '@entraguard/express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api' }] })
})
afterAll(async () => {
  await emu.close()
})

// Nothing listens on port 1: the metadata is out of reach, which preflight reports as an error.
const unreachable = () =>
  createValidator({
    tenant: emu.tenantId,
    audience: 'api://stock-api',
    authority: 'http://127.0.0.1:1',
    jwks: { timeout: 300 },
  })

function warnings(): { list: string[]; stop(): void } {
  const list: string[] = []
  const listener = (w: Error & { code?: string }) => {
    if (w.code === 'ENTRAGUARD_PREFLIGHT') list.push(w.message)
  }
  process.on('warning', listener)
  return { list, stop: () => process.off('warning', listener) }
}

describe('entraAuth({ preflight })', () => {
  it("'fail': ready() rejects with the problems and their fixes, and the problem is also a process warning", async () => {
    const validator = unreachable()
    const seen = warnings()
    try {
      const auth = entraAuth({ validator, preflight: 'fail' })
      const failure = await auth.ready().catch((err: unknown) => err)
      expect(failure).toBeInstanceOf(ConfigurationError)
      expect((failure as Error).message).toMatch(/\[metadata_unreachable\][\s\S]*fix: /)
      await new Promise((r) => setImmediate(r))
      expect(seen.list.join('\n')).toContain('metadata_unreachable')
    } finally {
      seen.stop()
      validator.close()
    }
  })

  it("'warn' only warns, and a good configuration is ready without a word", async () => {
    const bad = unreachable()
    const good = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      tokenVersions: [1],
      authority: emu.authority,
    })
    const seen = warnings()
    try {
      await expect(entraAuth({ validator: bad, preflight: 'warn' }).ready()).resolves.toBeUndefined()
      await expect(entraAuth({ validator: good, preflight: 'fail' }).ready()).resolves.toBeUndefined()
      await expect(entraAuth({ validator: bad }).ready()).resolves.toBeUndefined()
      await new Promise((r) => setImmediate(r))
      expect(seen.list).toHaveLength(1)
      expect(seen.list[0]).toContain('metadata_unreachable')
    } finally {
      seen.stop()
      bad.close()
      good.close()
    }
  })
})
