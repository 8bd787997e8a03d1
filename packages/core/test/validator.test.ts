import { createHmac, createPrivateKey, createSign, generateKeyPairSync } from 'node:crypto'
import {
  AuthError,
  type AuthEvent,
  createValidator,
  type Validator,
  type ValidatorOptions,
} from '@entraguard/core'
import { afterAll, afterEach, beforeAll, describe, expect, expectTypeOf, it } from 'vitest'
import {
  API_APP_ID_URI,
  API_CLIENT_ID,
  type LocalIssuer,
  MI_CLIENT_ID,
  MI_OBJECT_ID,
  OTHER_TENANT,
  startLocalIssuer,
} from './local-issuer.js'

let issuer: LocalIssuer
const open: Validator[] = []
beforeAll(async () => {
  issuer = await startLocalIssuer()
})
afterAll(async () => {
  await issuer.close()
})
afterEach(() => {
  for (const v of open.splice(0)) v.close()
  issuer.fault = undefined
})

function make(extra: Partial<ValidatorOptions> = {}): Validator {
  const v = createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
    ...extra,
  } as ValidatorOptions)
  open.push(v)
  return v
}

async function rejection(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

describe('valid tokens', () => {
  it('accepts a v1 managed-identity token and maps it to a frozen principal', async () => {
    const claims = issuer.claims(1)
    const token = await issuer.sign(claims)
    const p = await make().validate(`Bearer ${token}`)
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
    expect(p.expiresAt.getTime()).toBe((claims.exp as number) * 1000)
    expect(Object.isFrozen(p)).toBe(true)
    expect(Object.isFrozen(p.roles)).toBe(true)
    expect(JSON.stringify(p)).not.toContain(token)
  })

  it('accepts a v2 delegated token: azp → clientId, scp split into scopes, user names', async () => {
    const token = await issuer.sign(
      issuer.claims(2, {
        idtyp: undefined,
        roles: undefined,
        scp: 'Stocks.Read  Stocks.Write',
        name: 'Ada',
        preferred_username: 'ada@contoso.com',
        groups: ['g1'],
      }),
    )
    const p = await make().validate(token)
    expect(p).toMatchObject({
      tokenVersion: 2,
      identityType: 'user',
      scopes: ['Stocks.Read', 'Stocks.Write'],
      roles: [],
      groups: ['g1'],
      name: 'Ada',
      username: 'ada@contoso.com',
      clientId: MI_CLIENT_ID,
    })
  })

  it('resolves a domain tenant through its metadata', async () => {
    const v = make({ tenant: 'contoso.onmicrosoft.com' })
    const p = await v.validate(await issuer.sign(issuer.claims(2)))
    expect(p.tenantId).toBe(issuer.tenantId)
  })

  it('accepts keys without alg (Entra publishes none) and a v1 x5t-only header', async () => {
    const token = await issuer.sign(issuer.claims(1))
    const [h] = token.split('.')
    const header = JSON.parse(Buffer.from(h as string, 'base64url').toString())
    expect(header.kid).toBeDefined()
    await expect(make().validate(token)).resolves.toBeTruthy()
  })

  it('does not let a signed "__proto__" claim become roles (prototype pollution)', async () => {
    const claims = issuer.claims(2, { roles: ['Stocks.Read'] })
    const raw = JSON.stringify(claims).replace('{', '{"__proto__":{"roles":["Admin"],"isAdmin":true},')
    const token = await issuer.sign(JSON.parse(raw))
    const p = await make().validate(token)
    expect(p.roles).toEqual(['Stocks.Read'])
    expect((p.claims as Record<string, unknown>).isAdmin).toBeUndefined()
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined()
  })
})

describe('every rejection has its own code', () => {
  it('missing_token and malformed_request come from the header', async () => {
    const v = make()
    expect((await rejection(v.validate(undefined))).code).toBe('missing_token')
    expect((await rejection(v.validate('Basic abc'))).code).toBe('missing_token')
    expect((await rejection(v.validate('Bearer'))).code).toBe('malformed_request')
    expect((await rejection(v.validate(42 as never))).code).toBe('malformed_request')
  })

  it.each([
    ['two parts', 'abc.def'],
    ['five parts (JWE)', 'a.b.c.d.e'],
    ['padding', `${b64({ alg: 'RS256' })}.${b64({})}.AAAA==`],
    ['non-canonical last character', `${b64({ alg: 'RS256' })}.${b64({})}.AB`],
    ['impossible length', `${b64({ alg: 'RS256' })}.${b64({})}.ABCDE`],
    ['non-JSON header', `${Buffer.from('not json').toString('base64url')}.${b64({})}.AAAA`],
    ['array payload', `${b64({ alg: 'RS256', kid: 'k' })}.${b64([1])}.AAAA`],
    ['standard base64 alphabet', `${b64({ alg: 'RS256' })}.${b64({})}.ab+/`],
  ])('malformed_token: %s', async (_name, token) => {
    const e = await rejection(make().validate(token))
    expect(e.code).toBe('malformed_token')
    expect(e.status).toBe(401)
    expect(e.headers['WWW-Authenticate']).toBe(
      'Bearer error="invalid_token", error_description="The token is malformed"',
    )
  })

  it.each([
    ['exp missing', { exp: undefined }],
    ['exp a string', { exp: '99999999999' }],
    ['exp Infinity (1e309)', 'INFINITY'],
    ['iat missing', { iat: undefined }],
    ['tid not a GUID', { tid: 'contoso' }],
    ['scp an array', { scp: ['Stocks.Read'] }],
    ['roles a string', { roles: 'Stocks.Read' }],
    ['roles with a number', { roles: ['a', 1] }],
    ['exp before iat', { exp: 1000, iat: 2000, nbf: 500 }],
    ['no appid', { appid: undefined }],
  ])('malformed_token after the signature: %s', async (_name, extra) => {
    let token: string
    if (extra === 'INFINITY') {
      token = await issuer.signRaw(JSON.stringify(issuer.claims(1)).replace(/"exp":\d+/, '"exp":1e309'))
      expect((await rejection(make().validate(token))).code).toBe('malformed_token')
      return
    }
    token = await issuer.sign(issuer.claims(1, extra as Record<string, unknown>))
    expect((await rejection(make().validate(token))).code).toBe('malformed_token')
  })

  it('unsupported_algorithm: none, HS256 with the public key, PS256 with the same RSA key', async () => {
    const v = make()
    const payload = b64(issuer.claims(1))
    const none = `${b64({ alg: 'none', typ: 'JWT' })}.${payload}.`
    expect((await rejection(v.validate(`${none}AAAA`))).code).toBe('unsupported_algorithm')
    const hsInput = `${b64({ alg: 'HS256', typ: 'JWT', kid: 'x' })}.${payload}`
    const hs = `${hsInput}.${createHmac('sha256', 'public key pem').update(hsInput).digest('base64url')}`
    expect((await rejection(v.validate(hs))).code).toBe('unsupported_algorithm')
    const ps = await issuer.sign(issuer.claims(1), { header: { alg: 'PS256' } }).catch(() => undefined)
    const psToken = ps ?? `${b64({ alg: 'PS256', kid: 'x' })}.${payload}.AAAA`
    expect((await rejection(v.validate(psToken))).code).toBe('unsupported_algorithm')
  })

  it('invalid_signature: a payload changed after signing', async () => {
    const token = await issuer.sign(issuer.claims(1))
    const [h, , s] = token.split('.')
    const forged = `${h}.${b64(issuer.claims(1, { roles: ['Stocks.Admin'] }))}.${s}`
    const e = await rejection(make().validate(forged))
    expect(e.code).toBe('invalid_signature')
    expect(e.detail).not.toContain(forged)
  })

  it('invalid_signature: signed by an attacker key published nowhere under a known kid', async () => {
    const known = await issuer.sign(issuer.claims(1))
    const kid = JSON.parse(Buffer.from(known.split('.')[0] as string, 'base64url').toString()).kid
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const input = `${b64({ alg: 'RS256', typ: 'JWT', kid })}.${b64(issuer.claims(1))}`
    const sig = createSign('RSA-SHA256')
      .update(input)
      .sign(createPrivateKey(privateKey.export({ format: 'pem', type: 'pkcs8' })))
    expect((await rejection(make().validate(`${input}.${sig.toString('base64url')}`))).code).toBe(
      'invalid_signature',
    )
  })

  it('unknown_key: a kid not in the key set, with the custom-signing-keys hint', async () => {
    const token = await issuer.sign(issuer.claims(1), { kid: 'not-a-published-kid' })
    const e = await rejection(make().validate(token))
    expect(e.code).toBe('unknown_key')
    expect(e.detail).toContain('customSigningKeys')
  })

  it('expired and not_yet_valid honour the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000)
    const v = make({ clockTolerance: 60 })
    const expired = await issuer.sign(issuer.claims(1, { iat: now - 7200, nbf: now - 7200, exp: now - 61 }))
    expect((await rejection(v.validate(expired))).code).toBe('expired')
    const withinSkew = await issuer.sign(
      issuer.claims(1, { iat: now - 7200, nbf: now - 7200, exp: now - 30 }),
    )
    await expect(v.validate(withinSkew)).resolves.toBeTruthy()
    const future = await issuer.sign(issuer.claims(1, { nbf: now + 600, iat: now, exp: now + 3600 }))
    expect((await rejection(v.validate(future))).code).toBe('not_yet_valid')
    const futureIat = await issuer.sign(issuer.claims(1, { nbf: now, iat: now + 600, exp: now + 3600 }))
    expect((await rejection(v.validate(futureIat))).code).toBe('not_yet_valid')
  })

  it('invalid_issuer: another tenant, a wrong issuer, ver against the issuer form, a refused version', async () => {
    const v = make()
    const other = await issuer.sign(
      issuer.claims(1, { tid: OTHER_TENANT, iss: `https://sts.windows.net/${OTHER_TENANT}/` }),
    )
    expect((await rejection(v.validate(other))).code).toBe('invalid_issuer')
    const wrongIss = await issuer.sign(issuer.claims(1, { iss: `https://evil.example/${issuer.tenantId}/` }))
    expect((await rejection(v.validate(wrongIss))).code).toBe('invalid_issuer')
    const verMismatch = await issuer.sign(issuer.claims(1, { ver: '2.0' }))
    expect((await rejection(v.validate(verMismatch))).code).toBe('invalid_issuer')
    const v1 = await issuer.sign(issuer.claims(1))
    const e = await rejection(make({ tokenVersions: [2] }).validate(v1))
    expect(e.code).toBe('invalid_issuer')
    expect(e.detail).toContain('accessTokenAcceptedVersion')
  })

  it('invalid_audience: another API, an array, and a Microsoft Graph token with its own message', async () => {
    const v = make()
    const wrong = await issuer.sign(issuer.claims(1, { aud: 'api://other-api' }))
    const e = await rejection(v.validate(wrong))
    expect(e.code).toBe('invalid_audience')
    expect(e.detail).toContain("aud is 'api://other-api'")
    const slash = await rejection(
      v.validate(await issuer.sign(issuer.claims(1, { aud: `${API_APP_ID_URI}/` }))),
    )
    expect(slash.detail).toContain('trailing slash')
    const arr = await issuer.sign(issuer.claims(1, { aud: [API_APP_ID_URI] }))
    expect((await rejection(v.validate(arr))).code).toBe('invalid_audience')
    const graph = await issuer.sign(issuer.claims(1, { aud: 'https://graph.microsoft.com' }), {
      header: { nonce: 'abc' },
    })
    const g = await rejection(v.validate(graph))
    expect(g.code).toBe('invalid_audience')
    expect(g.description).toBe('The token is for Microsoft Graph, not for this API')
  })

  it('client_not_allowed and identity_type_not_allowed', async () => {
    const token = await issuer.sign(issuer.claims(1))
    expect((await rejection(make({ allowedClientIds: ['someone-else'] }).validate(token))).code).toBe(
      'client_not_allowed',
    )
    await expect(make({ allowedClientIds: [MI_CLIENT_ID] }).validate(token)).resolves.toBeTruthy()
    expect((await rejection(make({ allowedIdentityTypes: ['user'] }).validate(token))).code).toBe(
      'identity_type_not_allowed',
    )
    const user = await issuer.sign(issuer.claims(2, { idtyp: undefined, roles: undefined, scp: 'x' }))
    expect((await rejection(make({ allowedIdentityTypes: ['app'] }).validate(user))).code).toBe(
      'identity_type_not_allowed',
    )
  })

  it('no_scope_or_role by default; allowed when the API authorizes by its own assignments', async () => {
    const bare = await issuer.sign(issuer.claims(1, { roles: [], scp: undefined }))
    const e = await rejection(make().validate(bare))
    expect(e.code).toBe('no_scope_or_role')
    expect(e.status).toBe(403)
    expect(e.headers['WWW-Authenticate']).toContain('error="insufficient_scope"')
    const p = await make({ allowTokensWithoutScopesOrRoles: true }).validate(bare)
    expect(p.identityType).toBe('app')
    const expired = await issuer.sign(issuer.claims(1, { roles: [], exp: 1000, iat: 900, nbf: 900 }))
    expect((await rejection(make().validate(expired))).code).toBe('expired')
  })

  it('never puts the raw token into an error', async () => {
    const v = make()
    const tokens = [
      await issuer.sign(issuer.claims(1, { aud: 'x' })),
      await issuer.sign(issuer.claims(1), { kid: 'nope' }),
      await issuer.sign(issuer.claims(1, { exp: 1000, iat: 900, nbf: 900 })),
    ]
    for (const t of tokens) {
      const e = await rejection(v.validate(t))
      for (const text of [e.message, e.detail, e.description, JSON.stringify(e), String(e.stack)]) {
        expect(text).not.toContain(t)
        expect(text).not.toContain(t.split('.')[2])
      }
    }
  })
})

describe('multi-tenant', () => {
  it('requires allowedTenants, checks iss against the template with the token tid', async () => {
    const v = make({ tenant: 'organizations', allowedTenants: [issuer.tenantId] })
    await expect(v.validate(await issuer.sign(issuer.claims(2)))).resolves.toMatchObject({
      tenantId: issuer.tenantId,
    })
    await expect(v.validate(await issuer.sign(issuer.claims(1)))).resolves.toMatchObject({ tokenVersion: 1 })
    const otherTenant = await issuer.sign(
      issuer.claims(2, { tid: OTHER_TENANT, iss: `https://login.microsoftonline.com/${OTHER_TENANT}/v2.0` }),
    )
    expect((await rejection(v.validate(otherTenant))).code).toBe('tenant_not_allowed')
    const any = make({ tenant: 'common', allowedTenants: 'any' })
    await expect(any.validate(otherTenant)).resolves.toMatchObject({ tenantId: OTHER_TENANT })
  })

  it('refuses iss of one tenant with tid of another (the signature alone never proves the tenant)', async () => {
    const v = make({ tenant: 'common', allowedTenants: 'any' })
    const mixed = await issuer.sign(issuer.claims(2, { tid: OTHER_TENANT }))
    const e = await rejection(v.validate(mixed))
    expect(e.code).toBe('invalid_issuer')
    expect(e.detail).toContain('iss and tid disagree')
  })

  it('checks the issuer that a v2 key carries (a key of one tenant never signs for another)', async () => {
    const v = make({ tenant: 'common', allowedTenants: 'any' })
    const kid = await issuer.rotate(`https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`)
    const token = await issuer.sign(issuer.claims(2), { kid })
    const e = await rejection(v.validate(token))
    expect(e.code).toBe('invalid_issuer')
    expect(e.detail).toContain(`signing key ${kid} belongs to issuer`)
    issuer.unpublish(kid)
  })
})

describe('options', () => {
  it('types: tenant and audience are required, Principal is what validate resolves to', () => {
    // @ts-expect-error tenant and audience are required
    expect(() => createValidator({})).toThrow('options.tenant')
    // @ts-expect-error cloud is one of the three clouds
    expect(() => createValidator({ tenant: OTHER_TENANT, audience: 'a', cloud: 'moon' })).toThrow(
      'options.cloud',
    )
    expectTypeOf<ReturnType<Validator['validate']>>().resolves.toMatchTypeOf<{
      tenantId: string
      roles: readonly string[]
    }>()
  })

  it.each([
    [{}, 'options.tenant'],
    [{ tenant: 'common', audience: 'a' }, "allowedTenants: 'any'"],
    [{ tenant: 'x', audience: 'a' }, 'options.tenant'],
    [{ tenant: OTHER_TENANT, audience: [] }, 'options.audience'],
    [{ tenant: OTHER_TENANT, audience: 'a', authority: 'http://example.com' }, 'loopback'],
    [{ tenant: OTHER_TENANT, audience: 'a', tokenVersions: [3] }, 'options.tokenVersions'],
    [{ tenant: OTHER_TENANT, audience: 'a', clockTolerance: -1 }, 'options.clockTolerance'],
    [{ tenant: OTHER_TENANT, audience: 'a', allowedTenants: [OTHER_TENANT] }, 'multi-tenant'],
    [{ tenant: OTHER_TENANT, audience: 'a', customSigningKeys: true }, 'options.clientId'],
    [{ tenant: OTHER_TENANT, audience: 'a', cache: { maxEntries: 0 } }, 'options.cache'],
    [{ tenant: OTHER_TENANT, audience: 'a', jwks: { timeout: 'slow' } }, 'options.jwks.timeout'],
    [{ tenant: OTHER_TENANT, audience: 'a', tenantt: 'typo' }, 'tenantt'],
  ])('%j fails naming %s', (options, text) => {
    expect(() => createValidator(options as never)).toThrow(text)
  })

  it('reports every problem at once', () => {
    try {
      createValidator({ clockTolerance: 'x' } as never)
      expect.unreachable()
    } catch (err) {
      const message = (err as Error).message
      expect(message).toContain('options.tenant')
      expect(message).toContain('options.audience')
      expect(message).toContain('options.clockTolerance')
    }
  })
})

describe('custom signing keys', () => {
  it('asks for the metadata and key set with ?appid=', async () => {
    const v = make({ customSigningKeys: true })
    await v.warm()
    expect(issuer.requests.some((r) => r.includes('openid-configuration?appid=6e74172b'))).toBe(true)
    expect(issuer.requests.some((r) => /keys\?appid=6e74172b/.test(r))).toBe(true)
  })
})

describe('events', () => {
  it('reports token.validated, token.rejected and keys.refreshed, never the token', async () => {
    const events: AuthEvent[] = []
    const v = make({ onEvent: (e) => events.push(e) })
    const token = await issuer.sign(issuer.claims(1))
    await v.validate(token)
    await v.validate(token)
    await v.validate(token)
    await rejection(v.validate(await issuer.sign(issuer.claims(1, { aud: 'x' }))))
    expect(events.map((e) => e.type)).toEqual([
      'keys.refreshed',
      'token.validated',
      'token.validated',
      'token.validated',
      'token.rejected',
    ])
    const validated = events.filter((e) => e.type === 'token.validated')
    expect(validated.map((e) => e.cached)).toEqual([false, false, true])
    expect(validated[0]).toMatchObject({
      tenantId: issuer.tenantId,
      objectId: MI_OBJECT_ID,
      clientId: MI_CLIENT_ID,
    })
    expect(events.find((e) => e.type === 'token.rejected')).toMatchObject({ code: 'invalid_audience' })
    expect(JSON.stringify(events)).not.toContain(token)
  })

  it('a throwing event handler never changes the result', async () => {
    const v = make({
      onEvent: () => {
        throw new Error('sink down')
      },
    })
    await expect(v.validate(await issuer.sign(issuer.claims(1)))).resolves.toBeTruthy()
  })
})
