import { ConfigurationError, createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { Auth, EntraAuthModule, Permission, Public, RequireAuth, Roles, Scopes } from '@entraguard/nestjs'
import { Controller, Get, Req } from '@nestjs/common'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { bearer, emulatorConfig, PLATFORMS, startApp, type TestApp } from './support.js'

@Controller('writers')
@Roles('Stocks.Write')
class WritersController {
  @Get('inherit')
  inherit() {
    return 'ok'
  }

  @Get('open')
  @Public()
  open(@Auth() auth: Principal | undefined) {
    return { auth: auth ?? null }
  }

  @Get('read')
  @Roles('Stocks.Read')
  read() {
    return 'ok'
  }

  @Get('any')
  @RequireAuth()
  any(@Req() req: { auth?: Principal }, @Auth() auth: Principal, @Auth('clientId') clientId: string) {
    return { same: req.auth === auth, clientId }
  }

  @Get('both')
  @Roles('Stocks.Read')
  @Scopes('Stocks.Read')
  both() {
    return 'ok'
  }
}

@Controller('open')
@Public()
class OpenController {
  @Get()
  open() {
    return 'ok'
  }

  @Get('closed')
  @Roles('Stocks.Read')
  closed() {
    return 'ok'
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

describe.each(PLATFORMS)('decorators on platform-%s', (platform) => {
  let api: TestApp
  const status = async (path: string, headers: Record<string, string> = {}) =>
    (await api.get(path, { headers })).status
  const app = (roles: string[]) => bearer(emu, { roles })
  const user = () => bearer(emu, { identity: 'user', scopes: ['Stocks.Read'] })

  beforeAll(async () => {
    api = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator })],
      controllers: [WritersController, OpenController],
    })
  })
  afterAll(async () => {
    await api.close()
  })

  it('a method without decorators takes its class requirement', async () => {
    expect(await status('/writers/inherit', app(['Stocks.Read']))).toBe(403)
    expect(await status('/writers/inherit', app(['Stocks.Write']))).toBe(200)
  })

  it("a method's @Public() exempts it from its class requirement", async () => {
    const reply = await api.get('/writers/open')
    expect(reply.status).toBe(200)
    expect(await reply.json()).toEqual({ auth: null })
  })

  it("a method's requirement replaces its class's, it does not add to it", async () => {
    expect(await status('/writers/read', app(['Stocks.Read']))).toBe(200)
    expect(await status('/writers/read', app(['Stocks.Write']))).toBe(403)
  })

  it('@RequireAuth() on a method relaxes the class requirement to a valid token', async () => {
    expect(await status('/writers/any')).toBe(401)
    const reply = await api.get('/writers/any', { headers: app(['Stocks.Read']) })
    expect(reply.status).toBe(200)
    const token = emu.mintToken({ audience: 'api://stock-api', roles: ['Stocks.Read'], clientId: 'c-1' })
    const named = await api.get('/writers/any', { headers: { authorization: `Bearer ${token}` } })
    expect(await named.json()).toEqual({ same: true, clientId: 'c-1' })
  })

  it('@Roles and @Scopes on one method combine: users need the scope, apps the role', async () => {
    expect(await status('/writers/both', user())).toBe(200)
    expect(await status('/writers/both', app(['Stocks.Read']))).toBe(200)
    expect(await status('/writers/both', app(['Stocks.Write']))).toBe(403)
  })

  it("a class's @Public() opens its methods unless a method requires more", async () => {
    expect(await status('/open')).toBe(200)
    expect(await status('/open/closed')).toBe(401)
    expect(await status('/open/closed', app(['Stocks.Read']))).toBe(200)
  })
})

describe('decorator combinations', () => {
  const method = () => ({ value: () => undefined }) as PropertyDescriptor
  const target = {}

  it('refuses @Public() with a requirement on the same method, in either order', () => {
    const a = method()
    Roles('Stocks.Read')(target, 'a', a)
    expect(() => Public()(target, 'a', a)).toThrow(ConfigurationError)
    const b = method()
    Public()(target, 'b', b)
    expect(() => Scopes('Stocks.Read')(target, 'b', b)).toThrow(/@Scopes\(\).*@Public\(\)/)
  })

  it('refuses two @Permission() on the same method', () => {
    const d = method()
    Permission('stocks/read', () => '/stocks')(target, 'p', d)
    expect(() => Permission('stocks/delete', () => '/stocks')(target, 'p', d)).toThrow(ConfigurationError)
  })
})
