import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createValidator, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningApi, startApi } from './support/apps.js'
import { send } from './support/http.js'

const script = fileURLToPath(new URL('./support/clients/workload-identity.mjs', import.meta.url))
const API = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const QUOTES_POD = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d'
const DEPLOYER_APP = '8b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e'

let emu: Emulator
let dir: string
let validator: Validator
let api: RunningApi
beforeAll(async () => {
  emu = await startEmulator({
    https: true,
    clusters: [{ name: 'aks-prod' }],
    apps: [
      { clientId: API, appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'] },
      {
        name: 'deployer',
        clientId: DEPLOYER_APP,
        appRoleAssignments: [{ app: API, role: 'Stocks.Write' }],
        federatedCredentials: [{ cluster: 'aks-prod', subject: 'system:serviceaccount:ci:deployer' }],
      },
    ],
    identities: [
      {
        name: 'quotes-pod',
        clientId: QUOTES_POD,
        appRoleAssignments: [{ app: API, role: 'Stocks.Read' }],
        federatedCredentials: [{ cluster: 'aks-prod', subject: 'system:serviceaccount:trading:quotes' }],
      },
    ],
  })
  dir = await mkdtemp(join(tmpdir(), 'entraguard-wi-'))
  await writeFile(join(dir, 'ca.pem'), emu.caCertificate ?? '')
  // The API reads the same directory's metadata over the emulator's plain-http listener.
  validator = createValidator({
    tenant: emu.tenantId,
    audience: ['api://stock-api', API],
    authority: emu.httpAuthority,
  })
  api = await startApi('express5', validator, [])
})
afterAll(async () => {
  await api.close()
  validator.close()
  await emu.close()
  await rm(dir, { recursive: true, force: true })
})

/** Runs @azure/identity in a pod-like process: the webhook's variables, the kubelet's token file. */
function pod(
  tokenFile: string,
  clientId: string,
  kind: 'wi' | 'dac' = 'wi',
): Promise<{ token?: string; error?: string; cachedSame?: boolean }> {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) if (!/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(k)) env[k] = v
  Object.assign(env, {
    NODE_EXTRA_CA_CERTS: join(dir, 'ca.pem'),
    NO_PROXY: '127.0.0.1,localhost',
    AZURE_AUTHORITY_HOST: emu.authority,
    AZURE_TENANT_ID: emu.tenantId,
    AZURE_CLIENT_ID: clientId,
    AZURE_FEDERATED_TOKEN_FILE: tokenFile,
  })
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, kind, 'api://stock-api/.default'],
      { env, timeout: 40_000 },
      (err, stdout) => (stdout ? resolve(JSON.parse(stdout)) : reject(err ?? new Error('no output'))),
    )
  })
}

const project = (name: string, o: { namespace: string; serviceAccount: string; expiresIn?: number }) => {
  const file = join(dir, name)
  emu.mintServiceAccountToken({ cluster: 'aks-prod', file, ...o })
  return file
}
const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>
const call = (token: string | undefined, method = 'GET') =>
  send(api.base, '/stocks', { method, headers: { authorization: `Bearer ${token}` } })

describe('AKS workload identity: @azure/identity 4.13.1 against the emulator', () => {
  it('WorkloadIdentityCredential exchanges the projected token for a managed-identity token the API accepts', async () => {
    const before = emu.requests.length
    const r = await pod(project('quotes', { namespace: 'trading', serviceAccount: 'quotes' }), QUOTES_POD)
    expect(r.error).toBeUndefined()
    expect(r.cachedSame).toBe(true)
    expect(claimsOf(r.token as string)).toMatchObject({
      aud: 'api://stock-api',
      appid: QUOTES_POD,
      appidacr: '2',
      roles: ['Stocks.Read'],
      xms_mirid: expect.stringContaining('/userAssignedIdentities/quotes-pod'),
    })
    expect(emu.requests.slice(before).map((q) => `${q.method} ${q.path}`)).toContain(
      `POST /${emu.tenantId}/oauth2/v2.0/token`,
    )
    expect((await call(r.token)).status).toBe(200)
    expect((await call(r.token, 'POST')).status).toBe(403)
  })

  it('DefaultAzureCredential picks workload identity from the same variables', async () => {
    const r = await pod(
      project('quotes-dac', { namespace: 'trading', serviceAccount: 'quotes' }),
      QUOTES_POD,
      'dac',
    )
    expect(r.error).toBeUndefined()
    expect((await call(r.token)).status).toBe(200)
  })

  it('an app registration with a federated credential gets its own app roles', async () => {
    const r = await pod(project('deployer', { namespace: 'ci', serviceAccount: 'deployer' }), DEPLOYER_APP)
    expect(r.error).toBeUndefined()
    expect(claimsOf(r.token as string)).toMatchObject({ appid: DEPLOYER_APP, appidacr: '2' })
    expect((await call(r.token, 'POST')).status).toBe(201)
  })

  it('a pod whose service account has no federated credential is refused with AADSTS70021', async () => {
    const r = await pod(project('intruder', { namespace: 'trading', serviceAccount: 'intruder' }), QUOTES_POD)
    expect(r.token).toBeUndefined()
    expect(r.error).toContain('AADSTS70021')
    expect(r.error).toContain("Assertion Subject: 'system:serviceaccount:trading:intruder'")
  })

  it('an expired projected token is refused with AADSTS700024', async () => {
    const file = project('stale', { namespace: 'trading', serviceAccount: 'quotes', expiresIn: -60 })
    const r = await pod(file, QUOTES_POD)
    expect(r.token).toBeUndefined()
    expect(r.error).toContain('AADSTS700024')
  })
})
