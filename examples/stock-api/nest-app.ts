import type { Policy, Validator } from '@entraguard/core'
import type { Principal } from '@entraguard/nestjs'
import { Auth, EntraAuthModule, Permission, Public, RequireAuth, Roles, Scopes } from '@entraguard/nestjs'
import {
  Body,
  Controller,
  Get,
  HttpException,
  type INestApplication,
  Inject,
  Module,
  Param,
  Post,
} from '@nestjs/common'
import { NestFactory } from '@nestjs/core'
import { ExpressAdapter, type NestExpressApplication } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { createStore, parseStock } from './store.js'

type Store = ReturnType<typeof createStore>
const STORE = Symbol('store')
type Named = { params: { name: string } }
const read = RequireAuth({ scopes: ['Stocks.Read'], roles: ['Stocks.Read'] })

@Controller()
class StockController {
  // Explicit tokens: tsx and esbuild emit no constructor metadata for Nest to read.
  constructor(@Inject(STORE) private readonly store: Store) {}

  @Get('health')
  @Public()
  health() {
    return { status: 'ok' }
  }

  @Get('stocks')
  @read
  list() {
    return [...this.store.stocks.values()]
  }

  @Get('stocks/:symbol')
  @read
  get(@Param('symbol') symbol: string) {
    const stock = this.store.stocks.get(symbol.toUpperCase())
    if (stock === undefined) throw new HttpException({ error: 'not_found' }, 404)
    return stock
  }

  @Post('stocks')
  @Roles('Stocks.Write')
  add(@Body() body: unknown) {
    const stock = parseStock(body)
    if (typeof stock === 'string') {
      throw new HttpException({ error: 'invalid_stock', error_description: stock }, 400)
    }
    this.store.stocks.set(stock.symbol, stock)
    return stock
  }

  @Get('me')
  @Scopes('Stocks.Read')
  me(@Auth() auth: Principal) {
    return { name: auth.name, username: auth.username, scopes: auth.scopes }
  }

  @Get('portfolios/:name')
  @Permission('portfolios/read', (req: Named) => `/portfolios/${req.params.name}`)
  portfolio(@Param('name') name: string) {
    return this.store.portfolios.get(name) ?? []
  }

  @Post('portfolios/:name/trades')
  @Permission('stocks/trade', (req: Named) => `/portfolios/${req.params.name}`)
  trade(@Param('name') name: string, @Auth('clientId') by: string) {
    return { portfolio: name, by }
  }
}

/**
 * The stock-tracking API on NestJS, on the Express or the Fastify platform: the same routes and rules as
 * the Express version. Returns the app; the caller starts it with `app.listen(port, '127.0.0.1')`.
 */
export async function createNestStockApi(
  validator: Validator,
  policy: Policy,
  platform: 'express' | 'fastify' = 'express',
): Promise<INestApplication> {
  @Module({
    imports: [EntraAuthModule.forRoot({ validator, policy })],
    controllers: [StockController],
    providers: [{ provide: STORE, useValue: createStore() }],
  })
  class StockModule {}

  const options = { logger: ['error' as const, 'warn' as const] }
  if (platform === 'fastify') {
    return NestFactory.create(StockModule, new FastifyAdapter({ bodyLimit: 16 * 1024 }), options)
  }
  const app = await NestFactory.create<NestExpressApplication>(StockModule, new ExpressAdapter(), options)
  app.useBodyParser('json', { limit: '16kb' })
  return app
}
