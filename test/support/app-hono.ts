import type { AddressInfo } from 'node:net'
import { type AuthEvent, createPolicy, type Validator } from '@entraguard/core'
import { entraAuth, requireAuth, requirePermission, requireRoles, requireScopes } from '@entraguard/hono'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import type { ApiOptions, RunningApi } from './apps.js'
import { scenarioPolicy } from './scenario.js'

const policy = createPolicy(scenarioPolicy)

/** The scenario's routes (see apps.ts) on Hono, served by @hono/node-server on 127.0.0.1:0. */
export async function startHonoApi(
  validator: Validator,
  events: AuthEvent[],
  options: ApiOptions = {},
): Promise<RunningApi> {
  const app = new Hono()
  app.get('/health', (c) => c.json({ ok: true }))
  app.use(entraAuth({ validator, reportOnly: options.reportOnly }))
  // Guards type `auth` as set; under report-only it is unset when the token was refused, hence the `?.`.
  app.get('/stocks', requireRoles('Stocks.Read'), (c) =>
    c.json({ stocks: ['AAPL'], caller: c.get('auth')?.clientId }),
  )
  app.post('/stocks', requireRoles('Stocks.Write'), (c) =>
    c.json({ ok: true, caller: c.get('auth')?.clientId }, 201),
  )
  app.get('/me', requireScopes('Stocks.Read'), (c) => c.json({ name: c.get('auth')?.name }))
  app.get('/quotes', requireAuth({ scopes: ['Stocks.Read'], roles: ['Stocks.Read'] }), (c) =>
    c.json({ quotes: [] }),
  )
  app.delete(
    '/portfolios/:name/stocks/:symbol',
    requirePermission(
      policy,
      'stocks/delete',
      (c) => `/portfolios/${c.req.param('name')}/${c.req.param('symbol')}`,
    ),
    (c) => c.body(null, 204),
  )
  app.get('/whoami', (c) => c.json({ objectId: c.get('auth')?.objectId, caller: c.get('auth')?.clientId }))

  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' })
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    events,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}
