import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { AuthError, createValidator, type AuthEvent, type Validator, type ValidatorOptions } from '@entraguard/core'
import { API_APP_ID_URI, API_CLIENT_ID, MI_CLIENT_ID, MI_OBJECT_ID, OTHER_TENANT, startLocalIssuer, type LocalIssuer } from './local-issuer.js'

let issuer: LocalIssuer
beforeAll(async () => {
  issuer = await startLocalIssuer()
})
afterAll(async () => {
  await issuer.close()
})

function make(extra: Partial<ValidatorOptions> = {}): Validator {
  return createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
    ...extra,
  })
}

async function rejection(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

describe('createValidator: valid tokens', () => {
  it('accepts a v1 managed-identity token and maps it to a principal', async () => {
    const v = make()
    const token = await issuer.sign(issuer.claims(1))
    const p = await v.validate(`Bearer ${token}`)
    expect(p).toMatchObject({
      tokenVersion: 1,
      tenantId: issuer.tenantId,
      objectId: MI_OBJECT_ID,
      subject: MI_OBJECT_ID,
      clientId: MI_CLIENT_ID,
      clientAuthMethod: '2',
      identityType: 'app',
      roles: ['Stocks.Read'],
      scopes: [],
      groups: [],
      managedIdentityResourceId: expect.stringContaining('/virtualMachines/reader-vm'),
    })
    expect(p.expiresAt).toBeInstanceOf(Date)
    expect(Object.isFrozen(p)).toBe(true)
    expect(JSON.stringify(p)).not.toContain(token)
    v.close()
  })

  it('accepts a v2 delegated token: azp → clientId, scp split into scopes', async () => {
    const v = make()
    const token = await issuer.sign(
      issuer.claims(2, { idtyp: undefined, roles: undefined, scp: 'Stocks.Read  Stocks.Write', name: 'Ada', preferred_username: 'ada@contoso.com' }),
    )
    const p = await v.validate(token)
    expect(p).toMatchObject({ tokenVersion: 2, identityType: 'user', scopes: ['Stocks.Read', 'Stocks.Write'], roles: [], name: 'Ada', username: 'ada@contoso.com' })
    v.close()
  })
})
