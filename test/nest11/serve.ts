// The scenario API of test/support/app-nestjs.ts, on NestJS 11: this folder's @nestjs/* are 11.x, and its
// @entraguard/nestjs is an injected copy whose peers resolve to them. Run as a child process by
// nest11.test.ts (cwd test/nest11, so this folder's tsconfig makes tsx compile the copy's decorators):
//   TENANT_ID=… AUTHORITY=… PLATFORM=express|fastify node --conditions=source --import tsx serve.ts
import 'reflect-metadata'
import { createRequire } from 'node:module'
import type { AddressInfo } from 'node:net'
import { createPolicy, createValidator, type Principal } from '@entraguard/core'
import { Auth, EntraAuthModule, Permission, Public, RequireAuth, Roles, Scopes } from '@entraguard/nestjs'
import { Controller, Delete, Get, HttpCode, Module, Post } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { scenarioPolicy } from '../support/scenario.js'

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
  add() {
    return { ok: true }
  }

  @Get('me')
  @Scopes('Stocks.Read')
  me(@Auth() auth: Principal) {
    return { name: auth.name }
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
  whoami(@Auth('objectId') objectId: string | undefined) {
    return { objectId }
  }
}

const { TENANT_ID = '', AUTHORITY = '', PLATFORM = 'express' } = process.env
const validator = createValidator({
  tenant: TENANT_ID,
  audience: ['api://stock-api', '6e74172b-be56-4843-9ff4-e66a39bb12e3'],
  authority: AUTHORITY,
  jwks: { timeout: 500 },
  onEvent: (e) => console.log(`event ${JSON.stringify({ type: e.type, method: e.method, route: e.route })}`),
})

@Module({
  imports: [EntraAuthModule.forRoot({ validator, policy: createPolicy(scenarioPolicy) })],
  controllers: [ScenarioController],
})
class ScenarioModule {}

// What the package itself resolves, not what this folder does: proof that it runs on Nest 11.
const nest = createRequire(import.meta.resolve('@entraguard/nestjs'))('@nestjs/core/package.json') as {
  version: string
}
const adapter = PLATFORM === 'fastify' ? new FastifyAdapter() : new ExpressAdapter()
const app = await NestFactory.create(ScenarioModule, adapter, { logger: ['error', 'warn'] })
await app.listen(0, '127.0.0.1')
const { port } = app.getHttpServer().address() as AddressInfo
console.log(`nest ${nest.version} (${PLATFORM}) listening on http://127.0.0.1:${port}`)
