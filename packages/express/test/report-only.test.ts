import type { AddressInfo } from 'node:net'
import { type AuthEvent, ConfigurationError, createValidator, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { authErrorHandler, entraAuth, reportOnly, requireRoles } from '@entraguard/express'
import express, { type RequestHandler } from 'express'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

let emu: Emulator
let validator: Validator
const events: AuthEvent[] = []
beforeAll(async () => {
  emu = await startEmulator({
    apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'] }],
  })
  validator = createValidator({
    tenant: emu.tenantId,
    audience: 'api://stock-api',
    authority: emu.authority,
    onEvent: (e) => events.push(e),
  })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

// Key-set refreshes come and go with the first request; these tests look at the request's own events.
const requestEvents = () => events.filter((e) => !e.type.startsWith('keys.'))

async function serve(auth: RequestHandler, write: RequestHandler) {
  const app = express()
  app.use(auth)
  app.post('/stocks', write, (req, res) => {
    res.status(201).json({ caller: req.auth?.clientId ?? null })
  })
  app.use(authErrorHandler())
  const server = app.listen(0, '127.0.0.1')
  await new Promise<void>((r) => server.once('listening', () => r()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  const post = async (authorization?: string) => {
    events.length = 0
    const res = await fetch(`${base}/stocks`, {
      method: 'POST',
      headers: authorization === undefined ? {} : { authorization },
    })
    return {
      status: res.status,
      body: (await res.json()) as Record<string, unknown>,
      types: requestEvents().map((e) => e.type),
    }
  }
  return { post, close: () => new Promise<void>((r) => server.close(() => r())) }
}

describe('reportOnly', () => {
  it('reportOnly(guard) reports its denial under an enforcing entraAuth() and runs the handler', async () => {
    const api = await serve(entraAuth({ validator }), reportOnly(requireRoles('Stocks.Write')))
    try {
      const reader = `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}`
      const reply = await api.post(reader)
      expect(reply.status).toBe(201)
      expect(reply.body.caller).not.toBeNull()
      expect(reply.types).toEqual(['token.validated', 'access.would_deny'])
      expect(requestEvents()[1]).toMatchObject({
        code: 'insufficient_scope',
        method: 'POST',
        route: '/stocks',
      })
      // Token checks follow entraAuth(): a bad token is still a 401 there.
      expect((await api.post('Bearer not.a.jwt')).status).toBe(401)
    } finally {
      await api.close()
    }
  })

  it('reportOnly(guard, false) enforces under a report-only entraAuth(), answering a bad token with its own refusal', async () => {
    const api = await serve(
      entraAuth({ validator, reportOnly: true }),
      reportOnly(requireRoles('Stocks.Write'), false),
    )
    try {
      const bad = await api.post('Bearer not.a.jwt')
      expect(bad.status).toBe(401)
      expect(bad.body.error).toBe('invalid_token')
      const reader = await api.post(`Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}`)
      expect(reader.status).toBe(403)
      expect(reader.types).toEqual(['token.validated', 'access.denied'])
    } finally {
      await api.close()
    }
  })

  it('a guard under report-only entraAuth() lets a refused token through once, with req.auth unset', async () => {
    const api = await serve(entraAuth({ validator, reportOnly: true }), requireRoles('Stocks.Write'))
    try {
      const reply = await api.post('Bearer not.a.jwt')
      expect(reply).toMatchObject({ status: 201, body: { caller: null }, types: ['token.would_reject'] })
      expect(requestEvents()[0]).toMatchObject({ code: 'malformed_token', method: 'POST' })
    } finally {
      await api.close()
    }
  })

  it('with optional: true, a guard reports the missing token that enforcement would refuse', async () => {
    const api = await serve(
      entraAuth({ validator, optional: true, reportOnly: true }),
      requireRoles('Stocks.Write'),
    )
    try {
      const reply = await api.post()
      expect(reply).toMatchObject({ status: 201, types: ['token.would_reject'] })
      expect(requestEvents()[0]).toMatchObject({ code: 'missing_token', route: '/stocks' })
    } finally {
      await api.close()
    }
  })

  it('takes only entraguard guards', () => {
    expect(() => reportOnly((_req, _res, next) => next())).toThrow(ConfigurationError)
  })
})
