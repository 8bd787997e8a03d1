import 'reflect-metadata'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { EntraAuthModule } from '@entraguard/nestjs'
import { Controller, Get } from '@nestjs/common'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { PLATFORMS, startApp } from './support.js'

@Controller()
class HealthController {
  @Get('health')
  health() {
    return { ok: true }
  }
}

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({ apps: [{ appIdUri: 'api://stock-api' }] })
})
afterAll(async () => {
  await emu.close()
})

describe.each(PLATFORMS)('EntraAuthModule { preflight } on %s', (platform) => {
  it("'fail' refuses to start when the metadata is out of reach", async () => {
    // Nothing listens on port 1.
    const options = {
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: 'http://127.0.0.1:1',
      jwks: { timeout: 300 },
      preflight: 'fail' as const,
    }
    await expect(
      startApp(platform, { imports: [EntraAuthModule.forRoot(options)], controllers: [HealthController] }),
    ).rejects.toThrow(/\[metadata_unreachable\][\s\S]*fix: /)
  })

  it("a good configuration starts in 'fail' mode", async () => {
    const options = {
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      tokenVersions: [1 as const],
      authority: emu.authority,
      preflight: 'fail' as const,
    }
    const app = await startApp(platform, {
      imports: [EntraAuthModule.forRoot(options)],
      controllers: [HealthController],
    })
    try {
      expect((await app.get('/health')).status).toBe(401)
    } finally {
      await app.close()
    }
  })
})
