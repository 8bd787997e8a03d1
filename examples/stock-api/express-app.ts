import type { Policy, Validator } from '@entraguard/core'
import {
  authErrorHandler,
  entraAuth,
  requireAuth,
  requirePermission,
  requireRoles,
  requireScopes,
} from '@entraguard/express'
import express, { type Express } from 'express'
import { createStore, parseStock } from './store.js'

/**
 * The stock-tracking API in Express: called by VMs with managed identities (app roles Stocks.Read /
 * Stocks.Write), by users through a client app (scope Stocks.Read), with RBAC on portfolios.
 */
export function createExpressStockApi(validator: Validator, policy: Policy): Express {
  const { stocks, portfolios } = createStore()
  const app = express()
  app.use(express.json({ limit: '16kb' }))
  app.get('/health', (_req, res) => {
    res.json({ status: 'ok' })
  })

  app.use(entraAuth({ validator }))
  const read = requireAuth({ scopes: ['Stocks.Read'], roles: ['Stocks.Read'] })
  app.get('/stocks', read, (_req, res) => {
    res.json([...stocks.values()])
  })
  app.get('/stocks/:symbol', read, (req, res) => {
    const stock = stocks.get(String(req.params.symbol).toUpperCase())
    if (stock === undefined) res.status(404).json({ error: 'not_found' })
    else res.json(stock)
  })
  app.post('/stocks', requireRoles('Stocks.Write'), (req, res) => {
    const stock = parseStock(req.body)
    if (typeof stock === 'string') {
      res.status(400).json({ error: 'invalid_stock', error_description: stock })
      return
    }
    stocks.set(stock.symbol, stock)
    res.status(201).json(stock)
  })
  app.get('/me', requireScopes('Stocks.Read'), (req, res) => {
    res.json({ name: req.auth?.name, username: req.auth?.username, scopes: req.auth?.scopes })
  })
  app.get(
    '/portfolios/:name',
    requirePermission(policy, 'portfolios/read', (req) => `/portfolios/${req.params.name}`),
    (req, res) => {
      res.json(portfolios.get(String(req.params.name)) ?? [])
    },
  )
  app.post(
    '/portfolios/:name/trades',
    requirePermission(policy, 'stocks/trade', (req) => `/portfolios/${req.params.name}`),
    (req, res) => {
      res.status(201).json({ portfolio: req.params.name, by: req.auth?.clientId })
    },
  )
  app.use(authErrorHandler())
  return app
}
