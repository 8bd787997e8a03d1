import { createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { Auth, EntraAuthGuard, EntraAuthModule, Permission, Public } from '@entraguard/nestjs'
import { Controller, type ExecutionContext, Get } from '@nestjs/common'
import { Reflector } from '@nestjs/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emulatorConfig, PLATFORMS, startApp } from './support.js'

class Handlers {
  @Public()
  open() {}

  closed() {}
}

@Controller()
class NoPolicyController {
  @Get('portfolio')
  @Permission('portfolios/read', () => '/portfolios/contoso')
  portfolio() {
    return []
  }
}

@Controller()
class FieldsController {
  @Get('fields')
  fields(@Auth('clientId') clientId: string, @Auth('roles') roles: string[], @Auth() auth: Principal) {
    return { clientId, roles, tenantMatches: auth.tenantId === auth.claims.tid }
  }
}

let emu: Emulator
let validator: Validator
beforeAll(async () => {
  emu = await startEmulator(emulatorConfig)
  validator = createValidator({ tenant: emu.tenantId, audience: 'api://stock-api', authority: emu.authority })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

describe('EntraAuthGuard outside HTTP', () => {
  const contextOf = (type: string, handler: () => void) =>
    ({
      getType: () => type,
      getHandler: () => handler,
      getClass: () => Handlers,
      switchToHttp: () => {
        throw new Error('not an HTTP context')
      },
    }) as unknown as ExecutionContext

  it('fails closed in a non-HTTP context (RPC, WebSocket, GraphQL) unless the handler is @Public()', async () => {
    const guard = new EntraAuthGuard(new Reflector(), validator, null)
    for (const type of ['rpc', 'ws', 'graphql']) {
      expect(await guard.canActivate(contextOf(type, Handlers.prototype.closed))).toBe(false)
      expect(await guard.canActivate(contextOf(type, Handlers.prototype.open))).toBe(true)
    }
  })
})

describe.each(PLATFORMS)('EntraAuthGuard on platform-%s', (platform) => {
  it('@Auth(field) injects one field of the principal', async () => {
    const api = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator, warm: false })],
      controllers: [FieldsController],
    })
    try {
      const token = emu.mintToken({
        audience: 'api://stock-api',
        roles: ['Stocks.Read'],
        clientId: 'client-7',
      })
      const reply = await api.get('/fields', { headers: { authorization: `Bearer ${token}` } })
      expect(await reply.json()).toEqual({
        clientId: 'client-7',
        roles: ['Stocks.Read'],
        tenantMatches: true,
      })
    } finally {
      await api.close()
    }
  })

  it('refuses to start a module without a policy when a route has @Permission(), naming the route', async () => {
    await expect(
      startApp(platform, {
        imports: [EntraAuthModule.forRoot({ validator, warm: false })],
        controllers: [NoPolicyController],
      }),
    ).rejects.toThrow(/NoPolicyController\.\w+ has @Permission\('[^']+'\) but EntraAuthModule has no policy/)
  })

  it('warms the validator at start-up unless warm: false', async () => {
    const cold = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
    })
    const warmed = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
    })
    const a = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator: cold, warm: false })],
    })
    const b = await startApp(platform, { imports: [EntraAuthModule.forRoot({ validator: warmed })] })
    try {
      await expect.poll(() => warmed.stats.refreshes).toBeGreaterThan(0)
      expect(cold.stats.refreshes).toBe(0)
    } finally {
      await a.close()
      await b.close()
      cold.close()
      warmed.close()
    }
  })
})
