import { createPolicy, createValidator, type Policy, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import {
  ENTRA_POLICY,
  ENTRA_VALIDATOR,
  EntraAuthGuard,
  EntraAuthModule,
  Permission,
  Roles,
} from '@entraguard/nestjs'
import { Controller, Get, Inject, Injectable, Module, UseGuards } from '@nestjs/common'
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest'
import { bearer, emulatorConfig, PLATFORMS, startApp } from './support.js'

/** Stands in for @nestjs/config's ConfigService: a provider of another module that the factory injects. */
@Injectable()
class FakeConfigService {
  constructor(@Inject('ENV') private readonly env: Record<string, string>) {}
  get(key: string): string {
    const value = this.env[key]
    if (value === undefined) throw new Error(`missing ${key}`)
    return value
  }
}

@Controller()
class StocksController {
  @Get('stocks')
  @Roles('Stocks.Read')
  list() {
    return ['AAPL']
  }

  @Get('portfolios/contoso')
  @Permission('portfolios/read', () => '/portfolios/contoso')
  portfolio() {
    return []
  }
}

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator(emulatorConfig)
})
afterAll(async () => {
  await emu.close()
})

describe.each(PLATFORMS)('EntraAuthModule on platform-%s', (platform) => {
  it('forRootAsync builds the validator and policy from a ConfigService-like factory', async () => {
    @Module({
      providers: [
        {
          provide: 'ENV',
          useValue: { TENANT_ID: emu.tenantId, API_AUDIENCE: 'api://stock-api', AUTHORITY: emu.authority },
        },
        FakeConfigService,
      ],
      exports: [FakeConfigService],
    })
    class ConfigModule {}
    const policy = createPolicy({
      roles: { Reader: { actions: ['portfolios/read'] } },
      assignments: [{ role: 'Reader', appRole: 'Stocks.Read' }],
    })
    const factory = vi.fn((config: FakeConfigService) => ({
      tenant: config.get('TENANT_ID'),
      audience: config.get('API_AUDIENCE').split(','),
      authority: config.get('AUTHORITY'),
      policy,
    }))
    const api = await startApp(platform, {
      imports: [
        EntraAuthModule.forRootAsync({
          imports: [ConfigModule],
          inject: [FakeConfigService],
          useFactory: factory,
        }),
      ],
      controllers: [StocksController],
    })
    try {
      expect(factory).toHaveBeenCalledTimes(1)
      expect(api.app.get<Policy | null>(ENTRA_POLICY)).toBe(policy)
      const validator = api.app.get<Validator>(ENTRA_VALIDATOR)
      expect(typeof validator.validate).toBe('function')
      expect((await api.get('/stocks', { headers: bearer(emu, { roles: ['Stocks.Read'] }) })).status).toBe(
        200,
      )
      expect((await api.get('/stocks', { headers: bearer(emu, { roles: ['Other'] }) })).status).toBe(403)
      expect(
        (await api.get('/portfolios/contoso', { headers: bearer(emu, { roles: ['Stocks.Read'] }) })).status,
      ).toBe(200)
      expect(
        (await api.get('/portfolios/contoso', { headers: bearer(emu, { roles: ['Other'] }) })).status,
      ).toBe(403)
    } finally {
      await api.close()
    }
  })

  it('starts while the issuer is down, warms in the background and answers 503 until keys arrive', async () => {
    const started = Date.now()
    const api = await startApp(platform, {
      imports: [
        EntraAuthModule.forRoot({
          tenant: emu.tenantId,
          audience: 'api://stock-api',
          authority: 'http://127.0.0.1:1',
          jwks: { timeout: 300 },
          policy: createPolicy({ roles: { Reader: { actions: ['portfolios/read'] } }, assignments: [] }),
        }),
      ],
      controllers: [StocksController],
    })
    try {
      expect(Date.now() - started).toBeLessThan(5_000)
      const reply = await api.get('/stocks', { headers: bearer(emu, { roles: ['Stocks.Read'] }) })
      expect(reply.status).toBe(503)
      expect(Number(reply.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
      expect(reply.headers.get('www-authenticate')).toBeNull()
    } finally {
      await api.close()
    }
  })

  it('closes a validator it created when the app closes, never one it was given', async () => {
    const given = createValidator({
      tenant: emu.tenantId,
      audience: 'api://stock-api',
      authority: emu.authority,
    })
    const closeGiven = vi.spyOn(given, 'close')
    const withGiven = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator: given, warm: false })],
    })
    await withGiven.close()
    expect(closeGiven).not.toHaveBeenCalled()
    given.close()

    const owned = await startApp(platform, {
      imports: [
        EntraAuthModule.forRoot({
          tenant: emu.tenantId,
          audience: 'api://stock-api',
          authority: emu.authority,
        }),
      ],
    })
    const closeOwned = vi.spyOn(owned.app.get<Validator>(ENTRA_VALIDATOR), 'close')
    await owned.close()
    expect(closeOwned).toHaveBeenCalledTimes(1)
  })

  it('globalGuard: false leaves routes open unless they use @UseGuards(EntraAuthGuard)', async () => {
    @Controller('guarded')
    @UseGuards(EntraAuthGuard)
    class GuardedController {
      @Get()
      @Roles('Stocks.Read')
      get() {
        return 'ok'
      }
    }
    @Controller('unguarded')
    class UnguardedController {
      @Get()
      @Roles('Stocks.Read')
      get() {
        return 'ok'
      }
    }
    const api = await startApp(platform, {
      imports: [
        EntraAuthModule.forRoot({
          tenant: emu.tenantId,
          audience: 'api://stock-api',
          authority: emu.authority,
          globalGuard: false,
        }),
      ],
      controllers: [GuardedController, UnguardedController],
    })
    try {
      expect((await api.get('/unguarded')).status).toBe(200)
      const refused = await api.get('/guarded')
      expect(refused.status).toBe(401)
      expect(refused.headers.get('www-authenticate')).toBe('Bearer')
      expect((await api.get('/guarded', { headers: bearer(emu, { roles: ['Stocks.Read'] }) })).status).toBe(
        200,
      )
    } finally {
      await api.close()
    }
  })
})
