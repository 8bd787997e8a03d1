import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type AuthEvent, createPolicy, createValidator, type Validator } from '@entraguard/core'
import {
  authErrorHandler,
  entraAuth as expressAuth,
  requireAuth,
  requirePermission,
  requireRoles,
  requireScopes,
} from '@entraguard/express'
import { entraAuth as fastifyAuth } from '@entraguard/fastify'
import express5 from 'express'
import express4 from 'express4'
import fastify5 from 'fastify'
import fastify4 from 'fastify4'
import { startFunctionsApi } from './app-azure-functions.js'
import { startHonoApi } from './app-hono.js'
import { startNestApi } from './app-nestjs.js'
import { scenarioPolicy } from './scenario.js'

export type Framework =
  | 'express5'
  | 'express4'
  | 'fastify5'
  | 'fastify4'
  | 'nestjs-express'
  | 'nestjs-fastify'
  | 'hono'
  | 'azure-functions'
export const FRAMEWORKS: Framework[] = [
  'express5',
  'express4',
  'fastify5',
  'fastify4',
  'nestjs-express',
  'nestjs-fastify',
  'hono',
  'azure-functions',
]

/** How to run the scenario API: `reportOnly` is passed to the adapter (entraAuth, plugin, module, wrapper). */
export interface ApiOptions {
  reportOnly?: boolean | undefined
}

/** A running API of the scenario on 127.0.0.1:0. */
export interface RunningApi {
  base: string
  events: AuthEvent[]
  close(): Promise<void>
}

const policy = createPolicy(scenarioPolicy)

/**
 * The same routes on every framework:
 * GET /health public · GET /stocks role Stocks.Read · POST /stocks role Stocks.Write · GET /me scope Stocks.Read ·
 * GET /quotes scope or role · DELETE /portfolios/:name/stocks/:symbol permission stocks/delete ·
 * GET /whoami any valid token. GET and POST /stocks and /whoami answer with the caller's client ID
 * (unset when report-only let a refused token through).
 */
export async function startApi(
  framework: Framework,
  validator: Validator,
  events: AuthEvent[],
  options: ApiOptions = {},
): Promise<RunningApi> {
  if (framework === 'hono') return startHonoApi(validator, events, options)
  if (framework === 'azure-functions') return startFunctionsApi(validator, events, options)
  if (framework === 'nestjs-express') return startNestApi('express', validator, events, options)
  if (framework === 'nestjs-fastify') return startNestApi('fastify', validator, events, options)
  const { reportOnly } = options
  if (framework === 'express5' || framework === 'express4') {
    const make = (framework === 'express5' ? express5 : express4) as unknown as typeof express5
    const app = make()
    app.get('/health', (_req, res) => {
      res.json({ ok: true })
    })
    app.use(expressAuth({ validator, reportOnly }))
    app.get('/stocks', requireRoles('Stocks.Read'), (req, res) => {
      res.json({ stocks: ['AAPL'], caller: req.auth?.clientId })
    })
    app.post('/stocks', requireRoles('Stocks.Write'), (req, res) => {
      res.status(201).json({ ok: true, caller: req.auth?.clientId })
    })
    app.get('/me', requireScopes('Stocks.Read'), (req, res) => {
      res.json({ name: req.auth?.name })
    })
    app.get('/quotes', requireAuth({ scopes: ['Stocks.Read'], roles: ['Stocks.Read'] }), (_req, res) => {
      res.json({ quotes: [] })
    })
    app.delete(
      '/portfolios/:name/stocks/:symbol',
      requirePermission(
        policy,
        'stocks/delete',
        (req) => `/portfolios/${req.params.name}/${req.params.symbol}`,
      ),
      (_req, res) => {
        res.status(204).end()
      },
    )
    app.get('/whoami', (req, res) => {
      res.json({ objectId: req.auth?.objectId, caller: req.auth?.clientId })
    })
    app.use(authErrorHandler())
    const server: Server = app.listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    return {
      base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      events,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    }
  }
  const make = (framework === 'fastify5' ? fastify5 : fastify4) as unknown as typeof fastify5
  const app = make({ logger: false })
  await app.register(fastifyAuth, { validator, policy, reportOnly })
  app.get('/health', { config: { auth: false } }, async () => ({ ok: true }))
  app.get('/stocks', { config: { auth: { roles: ['Stocks.Read'] } } }, async (req) => ({
    stocks: ['AAPL'],
    caller: req.auth?.clientId,
  }))
  app.post('/stocks', { config: { auth: { roles: ['Stocks.Write'] } } }, async (req, reply) =>
    reply.code(201).send({ ok: true, caller: req.auth?.clientId }),
  )
  app.get('/me', { config: { auth: { scopes: ['Stocks.Read'] } } }, async (req) => ({ name: req.auth?.name }))
  app.get('/quotes', { config: { auth: { scopes: ['Stocks.Read'], roles: ['Stocks.Read'] } } }, async () => ({
    quotes: [],
  }))
  app.delete<{ Params: { name: string; symbol: string } }>(
    '/portfolios/:name/stocks/:symbol',
    {
      config: {
        auth: {
          permission: 'stocks/delete',
          resource: (req) => {
            const p = req.params as { name: string; symbol: string }
            return `/portfolios/${p.name}/${p.symbol}`
          },
        },
      },
    },
    async (_req, reply) => reply.code(204).send(),
  )
  app.get('/whoami', async (req) => ({ objectId: req.auth?.objectId, caller: req.auth?.clientId }))
  const base = await app.listen({ port: 0, host: '127.0.0.1' })
  return { base, events, close: () => app.close() }
}

/** A validator trusting the emulator, and the scenario API on it, with the events it emits. */
export async function startScenarioApi(
  framework: Framework,
  emulator: { tenantId: string; authority: string },
  audience: string[],
  options: ApiOptions = {},
): Promise<RunningApi & { validator: Validator }> {
  const events: AuthEvent[] = []
  const validator = createValidator({
    tenant: emulator.tenantId,
    audience,
    authority: emulator.authority,
    onEvent: (e) => events.push(e),
  })
  const api = await startApi(framework, validator, events, options)
  return {
    ...api,
    validator,
    close: async () => {
      await api.close()
      validator.close()
    },
  }
}
