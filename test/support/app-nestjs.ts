import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import { type AuthEvent, createPolicy, type Principal, type Validator } from '@entraguard/core'
import { Auth, EntraAuthModule, Permission, Public, RequireAuth, Roles, Scopes } from '@entraguard/nestjs'
import { Controller, Delete, Get, HttpCode, Module, Post } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import type { ApiOptions, RunningApi } from './apps.js'
import { scenarioPolicy } from './scenario.js'

export type NestPlatform = 'express' | 'fastify'

type Params = { params: { name: string; symbol: string } }

@Controller()
class ScenarioController {
  @Get('health')
  @Public()
  health() {
    return { ok: true }
  }

  @Get('stocks')
  @Roles('Stocks.Read')
  list(@Auth('clientId') caller: string) {
    return { stocks: ['AAPL'], caller }
  }

  @Post('stocks')
  @Roles('Stocks.Write')
  add(@Auth('clientId') caller: string | undefined) {
    return { ok: true, caller }
  }

  // Under report-only, @Auth() is undefined when the token was refused.
  @Get('me')
  @Scopes('Stocks.Read')
  me(@Auth() auth: Principal | undefined) {
    return { name: auth?.name }
  }

  @Get('quotes')
  @RequireAuth({ scopes: ['Stocks.Read'], roles: ['Stocks.Read'] })
  quotes() {
    return { quotes: [] }
  }

  @Delete('portfolios/:name/stocks/:symbol')
  @HttpCode(204)
  @Permission('stocks/delete', (req: Params) => `/portfolios/${req.params.name}/${req.params.symbol}`)
  remove() {}

  @Get('whoami')
  whoami(@Auth() auth: Principal | undefined) {
    return { objectId: auth?.objectId, caller: auth?.clientId }
  }
}

/**
 * The scenario routes of test/support/apps.ts on NestJS with @entraguard/nestjs, on the Express or the
 * Fastify platform, listening on 127.0.0.1:0.
 */
export async function startNestApi(
  platform: NestPlatform,
  validator: Validator,
  events: AuthEvent[],
  options: ApiOptions = {},
): Promise<RunningApi> {
  const { reportOnly } = options
  @Module({
    imports: [EntraAuthModule.forRoot({ validator, policy: createPolicy(scenarioPolicy), reportOnly })],
    controllers: [ScenarioController],
  })
  class ScenarioModule {}

  const adapter = platform === 'express' ? new ExpressAdapter() : new FastifyAdapter()
  const app = await NestFactory.create(ScenarioModule, adapter, { logger: false, abortOnError: false })
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  return { base: `http://127.0.0.1:${port}`, events, close: () => app.close() }
}
