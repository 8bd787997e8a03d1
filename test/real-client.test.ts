import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { createValidator, type Validator } from '@entraguard/core'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type RunningApi, startApi } from './support/apps.js'
import { send } from './support/http.js'
import {
  API_CLIENT_ID,
  API_URI,
  IDLE_VM,
  READER_VM,
  startScenarioEmulator,
  TRADER_VM,
} from './support/scenario.js'

const script = fileURLToPath(new URL('./support/clients/get-token.mjs', import.meta.url))

/** Environment with only what the real client should see: no other managed-identity source can leak in. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(AZURE_|IDENTITY_|MSI_|IMDS_)/.test(k)) env[k] = v
  }
  return { ...env, NO_PROXY: '127.0.0.1,localhost', ...extra }
}

function getToken(
  env: Record<string, string>,
  kind: 'mi' | 'dac',
  clientId?: string,
): Promise<{ token?: string; error?: string; cachedSame?: boolean; expiresOnTimestamp?: number }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [script, kind, `${API_URI}/.default`, ...(clientId ? [clientId] : [])],
      { env: cleanEnv(env), timeout: 40_000 },
      (err, stdout) => {
        if (stdout) resolve(JSON.parse(stdout))
        else reject(err ?? new Error('no output'))
      },
    )
  })
}

let emu: Emulator
let validator: Validator
let api: RunningApi
beforeAll(async () => {
  emu = await startScenarioEmulator()
  validator = createValidator({
    tenant: emu.tenantId,
    audience: [API_URI, API_CLIENT_ID],
    authority: emu.authority,
  })
  api = await startApi('express5', validator, [])
})
afterAll(async () => {
  await api.close()
  validator.close()
  await emu.close()
})

const call = (token: string | undefined, method = 'GET') =>
  send(api.base, '/stocks', { method, headers: { authorization: `Bearer ${token}` } })

describe('@azure/identity 4.13.1 against the emulator', () => {
  it('ManagedIdentityCredential (IMDS via AZURE_POD_IDENTITY_AUTHORITY_HOST) → API 200, and its cache hits', async () => {
    const before = emu.requests.length
    const r = await getToken({ AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint }, 'mi', READER_VM)
    expect(r.error).toBeUndefined()
    expect(r.cachedSame).toBe(true)
    // One IMDS request for two getToken calls: expires_on and the resource echo keep msal's cache working.
    expect(emu.requests.slice(before).filter((q) => /metadata\/identity/i.test(q.path))).toHaveLength(1)
    expect(emu.requests.slice(before).map((q) => q.path)).toContain('/metadata/identity/oauth2/token/')
    expect((await call(r.token)).status).toBe(200)
    expect((await call(r.token, 'POST')).status).toBe(403)
  })

  it('an identity without the role gets a token, and the API answers 403', async () => {
    const r = await getToken({ AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint }, 'mi', IDLE_VM)
    expect(r.error).toBeUndefined()
    const reply = await call(r.token)
    expect(reply.status).toBe(403)
    expect(reply.headers['www-authenticate']).toContain('insufficient_scope')
  })

  it('DefaultAzureCredential with AZURE_CLIENT_ID selects the user-assigned identity', async () => {
    const r = await getToken(
      {
        AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint,
        AZURE_TOKEN_CREDENTIALS: 'ManagedIdentityCredential',
        AZURE_CLIENT_ID: TRADER_VM,
      },
      'dac',
    )
    expect(r.error).toBeUndefined()
    expect((await call(r.token, 'POST')).status).toBe(201)
  })

  it('ManagedIdentityCredential over the App Service protocol (IDENTITY_ENDPOINT + IDENTITY_HEADER)', async () => {
    const r = await getToken(
      { IDENTITY_ENDPOINT: emu.appServiceEndpoint, IDENTITY_HEADER: emu.appServiceSecret },
      'mi',
      READER_VM,
    )
    expect(r.error).toBeUndefined()
    expect((await call(r.token)).status).toBe(200)
  })

  it('surfaces IMDS errors to the client: an unknown identity fails without a token', async () => {
    const r = await getToken(
      { AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint },
      'mi',
      '99999999-9999-4999-8999-999999999999',
    )
    expect(r.token).toBeUndefined()
    expect(r.error).toContain('Identity not found')
  })

  it('retries a 429 that carries Retry-After, then succeeds', async () => {
    emu.failNextTokenRequests({ times: 1, status: 429, retryAfter: 1 })
    const before = emu.requests.length
    const r = await getToken({ AZURE_POD_IDENTITY_AUTHORITY_HOST: emu.imdsEndpoint }, 'mi', READER_VM)
    expect(r.error).toBeUndefined()
    expect(emu.requests.slice(before).filter((q) => /metadata\/identity/i.test(q.path))).toHaveLength(2)
  })
})
