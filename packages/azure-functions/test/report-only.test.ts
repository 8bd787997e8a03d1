import azf, { type HttpResponseInit } from '@azure/functions'
import { withEntraAuth } from '@entraguard/azure-functions'
import { type AuthEvent, createValidator, type Principal, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'

// @azure/functions is CommonJS and Node's ESM loader does not see these classes as named exports.
const { HttpRequest, InvocationContext } = azf

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

const context = () =>
  new InvocationContext({
    functionName: 'stocks-add',
    options: { trigger: { type: 'httpTrigger', name: 'httpTrigger', route: 'stocks', methods: ['POST'] } },
  })
const post = (authorization?: string) =>
  new HttpRequest({
    method: 'POST',
    url: 'http://127.0.0.1:7071/api/stocks',
    headers: authorization === undefined ? {} : { authorization },
  })

describe('withEntraAuth({ reportOnly })', () => {
  it('types the handler for an absent principal', () => {
    withEntraAuth({ validator, reportOnly: true }, (_request, _context, auth) => {
      expectTypeOf(auth).toEqualTypeOf<Principal | undefined>()
      return {}
    })
    withEntraAuth({ validator, reportOnly: false }, (_request, _context, auth) => {
      expectTypeOf(auth).toEqualTypeOf<Principal>()
      return {}
    })
  })

  it('reports instead of refusing, and calls the handler with the principal it could establish', async () => {
    const seen: (Principal | undefined)[] = []
    const write = withEntraAuth(
      { validator, requirement: { roles: ['Stocks.Write'] }, reportOnly: true },
      (_request, _context, auth) => {
        seen.push(auth)
        return { status: 201 }
      },
    )
    events.length = 0
    const reader = `Bearer ${emu.mintToken({ roles: ['Stocks.Read'] })}`
    expect(((await write(post(reader), context())) as HttpResponseInit).status).toBe(201)
    expect(((await write(post('Bearer x.y.z'), context())) as HttpResponseInit).status).toBe(201)
    expect(seen.map((p) => p?.roles)).toEqual([['Stocks.Read'], undefined])
    const reports = events.filter((e) => e.type.includes('would_'))
    expect(reports).toMatchObject([
      { type: 'access.would_deny', code: 'insufficient_scope', route: 'stocks', method: 'POST' },
      { type: 'token.would_reject', code: 'malformed_token', route: 'stocks', method: 'POST' },
    ])
  })
})
