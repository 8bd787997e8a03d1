import { createPublicKey, verify } from 'node:crypto'
import { type Emulator, EmulatorConfigError, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const POD = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'

let emu: Emulator
beforeAll(async () => {
  emu = await startEmulator({
    clusters: [{ name: 'aks-prod' }, { name: 'aks-dev' }],
    apps: [{ clientId: API, appIdUri: 'api://stock-api', appRoles: ['Stocks.Read'] }],
    identities: [
      {
        name: 'quotes-pod',
        clientId: POD,
        appRoleAssignments: [{ app: API, role: 'Stocks.Read' }],
        federatedCredentials: [{ cluster: 'aks-prod', subject: 'system:serviceaccount:trading:quotes' }],
      },
    ],
  })
})
afterAll(async () => {
  await emu.close()
})

const decode = (part: string | undefined) => JSON.parse(Buffer.from(part ?? '', 'base64url').toString())

/** The request MSAL's confidential client sends for a client assertion. */
async function exchange(assertion: string, clientId = POD) {
  const res = await fetch(`${emu.authority}/${emu.tenantId}/oauth2/v2.0/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded;charset=utf-8' },
    body: new URLSearchParams({
      client_id: clientId,
      scope: 'api://stock-api/.default',
      grant_type: 'client_credentials',
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    }),
  })
  return { status: res.status, body: (await res.json()) as Record<string, unknown> }
}

const quotes = (o: Record<string, unknown> = {}) =>
  emu.mintServiceAccountToken({ cluster: 'aks-prod', namespace: 'trading', serviceAccount: 'quotes', ...o })

describe('the cluster as a Kubernetes service-account token issuer', () => {
  it('publishes OpenID discovery and keys at its issuer, and signs projected tokens like the kubelet', async () => {
    const issuer = emu.clusterIssuer('aks-prod')
    expect(issuer).toBe(`${emu.authority}/clusters/aks-prod/`)
    const discovery = (await (await fetch(`${issuer}.well-known/openid-configuration`)).json()) as Record<
      string,
      string
    >
    expect(discovery).toMatchObject({ issuer, jwks_uri: `${issuer}openid/v1/jwks` })
    const { keys } = (await (await fetch(discovery.jwks_uri as string)).json()) as {
      keys: Record<string, string>[]
    }
    const token = quotes()
    const [h, p, s] = token.split('.')
    expect(decode(h)).toEqual({ alg: 'RS256', kid: keys[0]?.kid })
    expect(decode(p)).toMatchObject({
      iss: issuer,
      sub: 'system:serviceaccount:trading:quotes',
      aud: ['api://AzureADTokenExchange'],
      'kubernetes.io': { namespace: 'trading', serviceaccount: { name: 'quotes' } },
    })
    const key = createPublicKey({ key: keys[0] as never, format: 'jwk' })
    expect(verify('RSA-SHA256', Buffer.from(`${h}.${p}`), key, Buffer.from(s as string, 'base64url'))).toBe(
      true,
    )
    expect(() => emu.mintServiceAccountToken({ namespace: 'a', serviceAccount: 'b' })).toThrow(
      'name the cluster',
    )
  })
})

describe('token endpoint: client assertions (workload identity federation)', () => {
  it('exchanges a matching service-account token for the identity’s token', async () => {
    const r = await exchange(quotes())
    expect(r.status).toBe(200)
    expect(r.body).toMatchObject({ token_type: 'Bearer', expires_in: 3600 })
    expect(decode((r.body.access_token as string).split('.')[1])).toMatchObject({
      appid: POD,
      appidacr: '2',
      roles: ['Stocks.Read'],
      xms_mirid: expect.stringContaining('quotes-pod'),
    })
  })

  it.each([
    ['another subject', () => quotes({ serviceAccount: 'intruder' }), 401, 'invalid_client', 70021],
    ['another audience', () => quotes({ audience: 'api://other' }), 401, 'invalid_client', 70021],
    [
      'another cluster',
      () =>
        emu.mintServiceAccountToken({ cluster: 'aks-dev', namespace: 'trading', serviceAccount: 'quotes' }),
      401,
      'invalid_client',
      70021,
    ],
    ['an expired token', () => quotes({ expiresIn: -60 }), 401, 'invalid_client', 700024],
    [
      'an unknown key id',
      () => {
        const [h, p, s] = quotes().split('.')
        const header = Buffer.from(JSON.stringify({ ...decode(h), kid: 'rogue' })).toString('base64url')
        return `${header}.${p}.${s}`
      },
      401,
      'invalid_client',
      7000272,
    ],
    [
      'a forged signature',
      () => {
        const [h, p] = quotes().split('.')
        const forged = Buffer.from(
          JSON.stringify({ ...decode(p), sub: 'system:serviceaccount:trading:quotes' }),
        )
        return `${h}.${forged.toString('base64url')}.${Buffer.alloc(256).toString('base64url')}`
      },
      401,
      'invalid_client',
      50013,
    ],
    ['a malformed token', () => 'not-a-jwt', 400, 'invalid_request', 50027],
  ])('%s → %i %s AADSTS%i', async (_name, make, status, error, code) => {
    const r = await exchange(make())
    expect(r.status).toBe(status)
    expect(r.body).toMatchObject({ error, error_codes: [code] })
    expect(r.body.error_description).toMatch(new RegExp(`^AADSTS${code}: `))
    expect(r.body.access_token).toBeUndefined()
  })

  it('names the issuer, subject and audience it could not match, as Entra does', async () => {
    const r = await exchange(quotes({ serviceAccount: 'intruder' }))
    expect(r.body.error_description).toContain(
      `No matching federated identity record found for presented assertion. Assertion Issuer: '${emu.clusterIssuer('aks-prod')}'. Assertion Subject: 'system:serviceaccount:trading:intruder'. Assertion Audience: 'api://AzureADTokenExchange'.`,
    )
  })

  it.each([
    [
      { clusters: [], identities: [{ federatedCredentials: [{ cluster: 'x', subject: 's' }] }] },
      "no cluster 'x'",
    ],
    [
      {
        clusters: [{ name: 'k' }],
        identities: [{ kind: 'system', federatedCredentials: [{ cluster: 'k', subject: 's' }] }],
      },
      'only user-assigned identities',
    ],
    [{ clusters: [{ name: 'Not A Label' }] }, 'DNS label'],
  ])('config %j → %s', async (options, message) => {
    await expect(startEmulator(options as never)).rejects.toThrow(EmulatorConfigError)
    await expect(startEmulator(options as never)).rejects.toThrow(message)
  })
})
