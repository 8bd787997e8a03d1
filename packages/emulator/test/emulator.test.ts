import { createHash, createPublicKey, verify, X509Certificate } from 'node:crypto'
import { type Emulator, EmulatorConfigError, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const API_V2 = '7f85283c-cf67-4954-a00f-f77b4acc23f4'
const READER = '2f1a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70'
const TRADER = '3a2b8d4f-1c2e-4f9b-8b66-3a4d5e6f7a81'

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({
    tenants: [{ id: '72f988bf-86f1-41af-91ab-2d7cd011db47', domain: 'contoso.onmicrosoft.com' }],
    apps: [
      {
        clientId: API,
        appIdUri: 'api://stock-api',
        appRoles: ['Stocks.Read', 'Stocks.Write'],
        scopes: ['Stocks.Read'],
      },
      { clientId: API_V2, appIdUri: 'api://v2-api', appRoles: ['X'], accessTokenAcceptedVersion: 2 },
      { name: 'daemon', secrets: ['s3cret'], appRoleAssignments: [{ app: API, role: 'Stocks.Write' }] },
    ],
    identities: [
      {
        name: 'reader-vm',
        clientId: READER,
        appRoleAssignments: [{ app: 'api://stock-api', role: 'Stocks.Read' }],
      },
      { name: 'trader-vm', clientId: TRADER, appRoleAssignments: [{ app: API, role: 'Stocks.Write' }] },
    ],
  })
})
afterAll(async () => {
  await emu.close()
})

const decode = (token: string) => {
  const [h, p] = token.split('.')
  return {
    header: JSON.parse(Buffer.from(h as string, 'base64url').toString()),
    payload: JSON.parse(Buffer.from(p as string, 'base64url').toString()),
  }
}

async function imds(
  query: string,
  headers: Record<string, string> = { Metadata: 'true' },
  path = '/metadata/identity/oauth2/token',
) {
  const res = await fetch(`${emu.imdsEndpoint}${path}?${query}`, { headers })
  return { status: res.status, headers: res.headers, body: (await res.json()) as Record<string, unknown> }
}

describe('IMDS endpoint', () => {
  it('returns string-typed fields, echoes resource byte for byte, and a v1 MI token', async () => {
    const r = await imds(
      `api-version=2018-02-01&resource=${encodeURIComponent('api://stock-api')}&client_id=${READER}`,
    )
    expect(r.status).toBe(200)
    for (const field of [
      'access_token',
      'expires_in',
      'expires_on',
      'ext_expires_in',
      'not_before',
      'resource',
      'token_type',
      'client_id',
    ]) {
      expect(typeof r.body[field]).toBe('string')
    }
    expect(r.body.resource).toBe('api://stock-api')
    expect(Number(r.body.expires_on) - Number(r.body.not_before)).toBe(86_700)
    const { header, payload } = decode(r.body.access_token as string)
    expect(header).toMatchObject({ typ: 'JWT', alg: 'RS256', kid: expect.any(String), x5t: header.kid })
    expect(payload).toMatchObject({
      aud: 'api://stock-api',
      iss: `https://sts.windows.net/${emu.tenantId}/`,
      appid: READER,
      appidacr: '2',
      idtyp: 'app',
      roles: ['Stocks.Read'],
      ver: '1.0',
      tid: emu.tenantId,
      xms_mirid: expect.stringContaining('/userAssignedIdentities/reader-vm'),
    })
    expect(payload.oid).toBe(payload.sub)
    expect(payload.scp).toBeUndefined()
    expect(payload.exp).toBe(Number(r.body.expires_on))
  })

  it('accepts msal’s lower-cased path with a trailing slash', async () => {
    const r = await imds(
      `api-version=2018-02-01&resource=api://stock-api&client_id=${TRADER}`,
      { Metadata: 'true' },
      '/METADATA/identity/oauth2/token/',
    )
    expect(r.status).toBe(200)
    expect(decode(r.body.access_token as string).payload.roles).toEqual(['Stocks.Write'])
  })

  it('issues v2 tokens (aud = client ID, azp) to an API that accepts v2', async () => {
    const r = await imds(`api-version=2018-02-01&resource=api://v2-api&client_id=${READER}`)
    const { payload, header } = decode(r.body.access_token as string)
    expect(payload).toMatchObject({
      aud: API_V2,
      azp: READER,
      azpacr: '2',
      ver: '2.0',
      iss: `https://login.microsoftonline.com/${emu.tenantId}/v2.0`,
    })
    expect(payload.roles).toBeUndefined()
    expect(header.x5t).toBeUndefined()
  })

  it.each([
    [
      'no Metadata header',
      'api-version=2018-02-01&resource=api://stock-api',
      {},
      400,
      'Required metadata header not specified',
    ],
    [
      'Metadata: True (must be lower case)',
      'api-version=2018-02-01&resource=api://stock-api',
      { Metadata: 'True' },
      400,
      'Required metadata header not specified',
    ],
    [
      'X-Forwarded-For',
      'api-version=2018-02-01&resource=x',
      { Metadata: 'true', 'X-Forwarded-For': '1.2.3.4' },
      400,
      'Required metadata header not specified',
    ],
    ['no api-version', 'resource=api://stock-api', { Metadata: 'true' }, 400, "'api-version' is missing"],
    ['no resource', 'api-version=2018-02-01', { Metadata: 'true' }, 400, "'resource' is missing"],
    [
      'duplicate parameters',
      'api-version=2018-02-01&resource=a&resource=b',
      { Metadata: 'true' },
      400,
      'Duplicate',
    ],
    [
      'two selectors',
      `api-version=2018-02-01&resource=api://stock-api&client_id=${READER}&object_id=x`,
      { Metadata: 'true' },
      400,
      'Only one of',
    ],
    [
      'unknown identity',
      'api-version=2018-02-01&resource=api://stock-api&client_id=00000000-0000-0000-0000-000000000000',
      { Metadata: 'true' },
      400,
      'Identity not found',
    ],
    [
      'ambiguous identity',
      'api-version=2018-02-01&resource=api://stock-api',
      { Metadata: 'true' },
      400,
      'Multiple user assigned identities exist',
    ],
    [
      'unknown resource',
      `api-version=2018-02-01&resource=api://nope&client_id=${READER}`,
      { Metadata: 'true' },
      400,
      'AADSTS500011',
    ],
  ])('%s → %i', async (_name, query, headers, status, text) => {
    const r = await imds(query, headers as Record<string, string>)
    expect(r.status).toBe(status)
    expect(typeof r.body.error).toBe('string')
    expect(r.body.error_description).toContain(text)
  })

  it('refuses other methods with 405', async () => {
    const res = await fetch(
      `${emu.imdsEndpoint}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x`,
      { method: 'POST', headers: { Metadata: 'true' } },
    )
    expect(res.status).toBe(405)
  })

  it('injects 429 with Retry-After for the next requests only', async () => {
    emu.failNextTokenRequests({ times: 1, status: 429, retryAfter: 1 })
    const q = `api-version=2018-02-01&resource=api://stock-api&client_id=${READER}`
    const first = await imds(q)
    expect(first.status).toBe(429)
    expect(first.headers.get('retry-after')).toBe('1')
    expect((await imds(q)).status).toBe(200)
  })
})

describe('App Service endpoint', () => {
  const READER_RES = () => emu.config.identities[0]?.resourceId ?? ''
  const READER_OID = () => emu.config.identities[0]?.objectId ?? ''
  const get = async (query: string, headers: Record<string, string>, path = '/msi/token') => {
    const res = await fetch(`${emu.httpAuthority}${path}?${query}`, { headers })
    return { status: res.status, body: (await res.json()) as Record<string, unknown> }
  }

  it('needs X-IDENTITY-HEADER with api-version 2019-08-01 (or later)', async () => {
    const q = `api-version=2019-08-01&resource=api://stock-api&client_id=${READER}`
    expect((await get(q, {})).status).toBe(400)
    expect((await get(q, { 'X-IDENTITY-HEADER': 'wrong' })).status).toBe(401)
    const ok = await get(q, { 'X-IDENTITY-HEADER': emu.appServiceSecret })
    expect(ok.status).toBe(200)
    expect(ok.body).toMatchObject({
      resource: 'api://stock-api',
      token_type: 'Bearer',
      client_id: READER,
      expires_on: expect.stringMatching(/^\d+$/),
      not_before: expect.stringMatching(/^\d+$/),
    })
    const later = await get(q.replace('2019-08-01', '2025-01-01'), {
      'X-IDENTITY-HEADER': emu.appServiceSecret,
    })
    expect(later.status).toBe(200)
    const older = await get(q.replace('2019-08-01', '2018-02-01'), {
      'X-IDENTITY-HEADER': emu.appServiceSecret,
    })
    expect(older.status).toBe(400)
  })

  it.each([
    ['client_id', () => READER],
    ['principal_id', () => READER_OID()],
    ['object_id (alias of principal_id)', () => READER_OID()],
    ['mi_res_id', () => READER_RES()],
  ])('selects the identity by %s, as Microsoft documents it', async (selector, value) => {
    const name = selector.split(' ')[0] as string
    const r = await get(
      `resource=api://stock-api&api-version=2019-08-01&${name}=${encodeURIComponent(value())}`,
      { 'X-IDENTITY-HEADER': emu.appServiceSecret },
      '/MSI/token/',
    )
    expect(r.status).toBe(200)
    expect(r.body.client_id).toBe(READER)
  })

  it('answers the older 2017-09-01 protocol: secret header, clientid, expires_on as a date', async () => {
    const q = `api-version=2017-09-01&resource=api://stock-api&clientid=${READER}`
    expect((await get(q, { 'X-IDENTITY-HEADER': emu.appServiceSecret })).status).toBe(400)
    const r = await get(q, { secret: emu.appServiceSecret })
    expect(r.status).toBe(200)
    expect(Object.keys(r.body).sort()).toEqual(['access_token', 'expires_on', 'resource', 'token_type'])
    expect(r.body.expires_on).toMatch(/^\d{2}\/\d{2}\/\d{4} \d{2}:\d{2}:\d{2} (AM|PM) \+00:00$/)
    const exp = decode(r.body.access_token as string).payload.exp as number
    const [date, time, half] = (r.body.expires_on as string).split(' ')
    const [mm, dd, yyyy] = (date as string).split('/').map(Number)
    const [h, mi, se] = (time as string).split(':').map(Number)
    const hours = ((h as number) % 12) + (half === 'PM' ? 12 : 0)
    expect(Date.UTC(yyyy as number, (mm as number) - 1, dd, hours, mi, se) / 1000).toBe(exp)
  })
})

describe('IMDS request variants (curl-style, as Microsoft documents them)', () => {
  it.each([
    ['client_id', () => READER],
    ['object_id', () => emu.config.identities[0]?.objectId ?? ''],
    ['msi_res_id', () => emu.config.identities[0]?.resourceId ?? ''],
  ])('selects the identity by %s and echoes the selector', async (selector, value) => {
    const r = await imds(
      `api-version=2018-02-01&resource=${encodeURIComponent('api://stock-api')}&${selector}=${encodeURIComponent(value())}`,
    )
    expect(r.status).toBe(200)
    expect(r.body.client_id).toBe(READER)
    if (selector !== 'client_id') expect(r.body[selector]).toBe(value())
  })

  it('accepts later api-versions (the swagger goes up to 2023-07-01) and refuses earlier ones', async () => {
    const q = (v: string) => `api-version=${v}&resource=api://stock-api&client_id=${READER}`
    expect((await imds(q('2023-07-01'))).status).toBe(200)
    expect((await imds(q('2017-12-01'))).status).toBe(400)
  })
})

describe('OpenID configuration and keys', () => {
  it('serves v2 and v1 documents per tenant (GUID or domain) and templates for common/organizations', async () => {
    const v2 = (await (
      await fetch(`${emu.authority}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>
    expect(v2.issuer).toBe(`https://login.microsoftonline.com/${emu.tenantId}/v2.0`)
    expect(v2.jwks_uri).toBe(`${emu.authority}/contoso.onmicrosoft.com/discovery/v2.0/keys`)
    expect(v2.token_endpoint).toContain('/oauth2/v2.0/token')
    const v1 = (await (
      await fetch(`${emu.authority}/${emu.tenantId}/.well-known/openid-configuration`)
    ).json()) as Record<string, string>
    expect(v1.issuer).toBe(`https://sts.windows.net/${emu.tenantId}/`)
    const common = (await (
      await fetch(`${emu.authority}/common/v2.0/.well-known/openid-configuration`)
    ).json()) as Record<string, string>
    expect(common.issuer).toBe('https://login.microsoftonline.com/{tenantid}/v2.0')
    const orgs = (await (
      await fetch(`${emu.authority}/organizations/.well-known/openid-configuration`)
    ).json()) as Record<string, string>
    expect(orgs.issuer).toBe('https://sts.windows.net/{tenantid}/')
    const unknown = await fetch(`${emu.authority}/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration`)
    expect(unknown.status).toBe(400)
    expect(((await unknown.json()) as Record<string, string>).error_description).toContain('AADSTS90002')
  })

  it('publishes keys like Entra: kid = x5t = SHA-1 of the certificate, x5c, no alg, v2 keys with issuer', async () => {
    const v2 = (await (await fetch(`${emu.authority}/common/discovery/v2.0/keys`)).json()) as {
      keys: Record<string, unknown>[]
    }
    const key = v2.keys[0] as Record<string, unknown>
    expect(key).toMatchObject({
      kty: 'RSA',
      use: 'sig',
      issuer: 'https://login.microsoftonline.com/{tenantid}/v2.0',
    })
    expect(key.alg).toBeUndefined()
    const der = Buffer.from((key.x5c as string[])[0] as string, 'base64')
    expect(createHash('sha1').update(der).digest('base64url')).toBe(key.kid)
    expect(key.x5t).toBe(key.kid)
    const cert = new X509Certificate(der)
    expect(cert.publicKey.export({ format: 'jwk' }).n).toBe(key.n)
    const v1 = (await (await fetch(`${emu.authority}/common/discovery/keys`)).json()) as {
      keys: Record<string, unknown>[]
    }
    expect(v1.keys[0]?.issuer).toBeUndefined()
  })

  it('rotateKeys publishes a new key, signs with it, and keeps the old one', async () => {
    const before = emu.publishedKids()
    const kid = emu.rotateKeys()
    expect(emu.publishedKids()).toEqual([...before, kid])
    expect(decode(emu.mintToken()).header.kid).toBe(kid)
  })
})

describe('client credentials', () => {
  it('issues an app token with the client’s app roles', async () => {
    const daemon = emu.config.apps[2]
    const res = await fetch(`${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: daemon?.clientId ?? '',
        client_secret: 's3cret',
        scope: 'api://stock-api/.default',
      }),
    })
    expect(res.status).toBe(200)
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 })
    expect(decode(body.access_token as string).payload).toMatchObject({
      appid: daemon?.clientId,
      appidacr: '1',
      roles: ['Stocks.Write'],
      aud: 'api://stock-api',
    })
  })

  it.each([
    [{ client_secret: 'wrong' }, 401, 'invalid_client'],
    [{ scope: 'api://stock-api' }, 400, 'invalid_scope'],
    [{ scope: 'api://nope/.default' }, 400, 'invalid_resource'],
    [{ client_id: '00000000-0000-0000-0000-000000000000' }, 400, 'unauthorized_client'],
    [{ grant_type: 'password' }, 400, 'unsupported_grant_type'],
  ])('%j → %i %s', async (change, status, error) => {
    const form = {
      grant_type: 'client_credentials',
      client_id: emu.config.apps[2]?.clientId ?? '',
      client_secret: 's3cret',
      scope: 'api://stock-api/.default',
      ...change,
    }
    const res = await fetch(`${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: new URLSearchParams(form),
    })
    expect(res.status).toBe(status)
    expect(((await res.json()) as Record<string, unknown>).error).toBe(error)
  })
})

describe('mintToken', () => {
  it('mints v1/v2, app/user, expired, other-tenant and unpublished-key tokens', () => {
    const user = decode(
      emu.mintToken({ audience: API, version: 2, identity: 'user', scopes: ['Stocks.Read'] }),
    ).payload
    expect(user).toMatchObject({
      aud: API,
      scp: 'Stocks.Read',
      ver: '2.0',
      preferred_username: expect.any(String),
      name: expect.any(String),
    })
    expect(user.idtyp).toBeUndefined()
    const mi = decode(emu.mintToken({ managedIdentity: 'reader-vm' })).payload
    expect(mi).toMatchObject({ appid: READER, roles: ['Stocks.Read'], xms_mirid: expect.any(String) })
    const expired = decode(emu.mintToken({ expiresIn: -60 })).payload
    expect(expired.exp).toBeLessThan(Date.now() / 1000)
    expect(expired.iat).toBeLessThan(expired.exp)
    const other = decode(emu.mintToken({ tenant: '11111111-2222-4333-8444-555555555555' })).payload
    expect(other.tid).toBe('11111111-2222-4333-8444-555555555555')
    const rogue = decode(emu.mintToken({ unpublishedKey: true })).header
    expect(emu.publishedKids()).not.toContain(rogue.kid)
  })

  it('signs tokens that verify with the published key', async () => {
    const token = emu.mintToken()
    const { header } = decode(token)
    const keys = (await (await fetch(`${emu.authority}/common/discovery/keys`)).json()) as {
      keys: { kid: string }[]
    }
    const jwk = keys.keys.find((k) => k.kid === header.kid)
    const [h, p, s] = token.split('.')
    expect(
      verify(
        'RSA-SHA256',
        Buffer.from(`${h}.${p}`),
        createPublicKey({ key: jwk as never, format: 'jwk' }),
        Buffer.from(s as string, 'base64url'),
      ),
    ).toBe(true)
  })
})

describe('configuration', () => {
  it.each([
    [{ host: '0.0.0.0' }, 'host must be a loopback address'],
    [{ apps: [{ clientId: 'nope' }] }, 'apps[0].clientId'],
    [
      { identities: [{ appRoleAssignments: [{ app: 'api://missing', role: 'R' }] }] },
      "identities[0].appRoleAssignments[0].app: no app with client ID or App ID URI 'api://missing'",
    ],
    [
      {
        apps: [{ appIdUri: 'api://a', appRoles: ['R'] }],
        identities: [{ appRoleAssignments: [{ app: 'api://a', role: 'W' }] }],
      },
      "defines no app role 'W'",
    ],
    [{ identities: [{ name: 'a' }, { name: 'a' }] }, "'a' is used twice"],
    [{ unknown: 1 }, 'Invalid emulator options'],
  ])('%j → %s', async (options, message) => {
    await expect(startEmulator(options as never)).rejects.toThrow(EmulatorConfigError)
    await expect(startEmulator(options as never)).rejects.toThrow(message)
  })

  it('answers unknown paths and malformed requests with 4xx JSON, never a crash', async () => {
    expect((await fetch(`${emu.authority}/nothing/here`)).status).toBe(404)
    expect((await fetch(`${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`)).status).toBe(405)
    const big = await fetch(`${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`, {
      method: 'POST',
      body: 'x'.repeat(100_000),
    })
    expect(big.status).toBe(413)
    expect((await fetch(`${emu.authority}/${'a'.repeat(9000)}`)).status).toBe(414)
  })
})
