import { type AuthEvent, createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { Auth, EntraAuthModule, ReportOnly, Roles } from '@entraguard/nestjs'
import { Controller, Post } from '@nestjs/common'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, emulatorConfig, PLATFORMS, startApp } from './support.js'

@Controller()
class StocksController {
  @Post('enforced')
  @Roles('Stocks.Write')
  enforced(@Auth() auth: Principal | undefined) {
    return { caller: auth?.clientId ?? null }
  }

  @Post('reported')
  @Roles('Stocks.Write')
  @ReportOnly()
  reported(@Auth() auth: Principal | undefined) {
    return { caller: auth?.clientId ?? null }
  }
}

@Controller('trial')
@ReportOnly()
class TrialController {
  @Post('reported')
  @Roles('Stocks.Write')
  reported(@Auth() auth: Principal | undefined) {
    return { caller: auth?.clientId ?? null }
  }

  @Post('enforced')
  @Roles('Stocks.Write')
  @ReportOnly(false)
  enforced() {
    return { caller: null }
  }
}

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator(emulatorConfig)
  validator = createValidator({
    tenant: emu.tenantId,
    audience: 'api://stock-api',
    authority: emu.authority,
    onEvent: (e) => events.push(e),
  })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

const types = () => events.filter((e) => !e.type.startsWith('keys.')).map((e) => e.type)

describe.each(PLATFORMS)('@ReportOnly() on %s', (platform) => {
  it('a handler or controller reports under an enforcing module; @ReportOnly(false) enforces', async () => {
    const app = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator })],
      controllers: [StocksController, TrialController],
    })
    try {
      const post = (
        path: string,
        headers: Record<string, string> = bearer(emu, { roles: ['Stocks.Read'] }),
      ) => app.get(path, { method: 'POST', headers })
      expect((await post('/enforced')).status).toBe(403)
      events.length = 0
      const reported = await post('/reported')
      expect(reported.status).toBe(201)
      expect(((await reported.json()) as { caller: unknown }).caller).not.toBeNull()
      expect(types()).toEqual(['token.validated', 'access.would_deny'])
      events.length = 0
      const refused = await post('/trial/reported', { authorization: 'Bearer x.y.z' })
      expect(refused.status).toBe(201)
      expect(await refused.json()).toEqual({ caller: null })
      expect(events.find((e) => e.type === 'token.would_reject')).toMatchObject({
        code: 'malformed_token',
        method: 'POST',
        route: '/trial/reported',
      })
      expect((await post('/trial/enforced')).status).toBe(403)
    } finally {
      await app.close()
    }
  })

  it('the module option reportOnly covers every route', async () => {
    const app = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator, reportOnly: true })],
      controllers: [StocksController],
    })
    try {
      events.length = 0
      expect((await app.get('/enforced', { method: 'POST' })).status).toBe(201)
      expect(events.filter((e) => e.type === 'token.would_reject').map((e) => e.code)).toEqual([
        'missing_token',
      ])
    } finally {
      await app.close()
    }
  })
})
