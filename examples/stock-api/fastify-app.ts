import type { Policy, Validator } from '@entraguard/core'
import { entraAuth } from '@entraguard/fastify'
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify'
import { createStore, parseStock } from './store.js'

type Params = { name: string; symbol: string }
const param = (req: FastifyRequest, key: keyof Params) => (req.params as Params)[key]

/** The stock-tracking API in Fastify: the same routes and rules as the Express version. */
export async function createFastifyStockApi(validator: Validator, policy: Policy): Promise<FastifyInstance> {
  const { stocks, portfolios } = createStore()
  const app = Fastify({ logger: false, bodyLimit: 16 * 1024 })
  await app.register(entraAuth, { validator, policy })
  const read = { auth: { scopes: ['Stocks.Read'], roles: ['Stocks.Read'] } }

  app.get('/health', { config: { auth: false } }, async () => ({ status: 'ok' }))
  app.get('/stocks', { config: read }, async () => [...stocks.values()])
  app.get('/stocks/:symbol', { config: read }, async (req, reply) => {
    const stock = stocks.get(param(req, 'symbol').toUpperCase())
    return stock ?? reply.code(404).send({ error: 'not_found' })
  })
  app.post('/stocks', { config: { auth: { roles: ['Stocks.Write'] } } }, async (req, reply) => {
    const stock = parseStock(req.body)
    if (typeof stock === 'string')
      return reply.code(400).send({ error: 'invalid_stock', error_description: stock })
    stocks.set(stock.symbol, stock)
    return reply.code(201).send(stock)
  })
  app.get('/me', { config: { auth: { scopes: ['Stocks.Read'] } } }, async (req) => ({
    name: req.auth?.name,
    username: req.auth?.username,
    scopes: req.auth?.scopes,
  }))
  const portfolio = (action: string) => ({
    auth: { permission: action, resource: (req: FastifyRequest) => `/portfolios/${param(req, 'name')}` },
  })
  app.get(
    '/portfolios/:name',
    { config: portfolio('portfolios/read') },
    async (req) => portfolios.get(param(req, 'name')) ?? [],
  )
  app.post('/portfolios/:name/trades', { config: portfolio('stocks/trade') }, async (req, reply) =>
    reply.code(201).send({ portfolio: param(req, 'name'), by: req.auth?.clientId }),
  )
  return app
}
