import { createServer, type Server, type Socket } from 'node:net'
import { createValidator, formatPreflight, type Validator, type ValidatorOptions } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'

const API = { clientId: '6e74172b-be56-4843-9ff4-e66a39bb12e3', appIdUri: 'api://stock-api' }
let emu: Emulator
const validators: Validator[] = []

beforeAll(async () => {
  emu = await startEmulator({ apps: [{ ...API, appRoles: ['Stocks.Read'] }] })
})
afterAll(async () => {
  await emu.close()
})
afterEach(() => {
  for (const v of validators.splice(0)) v.close()
})

function validator(options: Partial<ValidatorOptions> = {}): Validator {
  const v = createValidator({
    tenant: emu.tenantId,
    audience: [API.appIdUri, API.clientId],
    authority: emu.authority,
    ...options,
  } as ValidatorOptions)
  validators.push(v)
  return v
}

const codes = (r: { problems: readonly { code: string; severity: string }[] }) =>
  r.problems.map((p) => `${p.severity} ${p.code}`)

describe('validator.preflight() against the emulator', () => {
  it('passes a right configuration, and leaves the validator warm', async () => {
    const v = validator()
    const report = await v.preflight()
    expect(report.ok).toBe(true)
    expect(report.problems).toEqual([])
    expect(report.passed.join('\n')).toContain(`tenant ${emu.tenantId} resolves`)
    expect(report.passed.join('\n')).toMatch(/key set .*discovery\/v2\.0\/keys answered \(\d+ signing keys?/)
    expect(formatPreflight(report)).toMatch(/^entraguard preflight: ok\n {2}✓ metadata /)
    const fetches = v.stats.refreshes
    expect(fetches).toBe(1)
    await v.validate(emu.mintToken({ audience: API.clientId, version: 2, roles: ['Stocks.Read'] }))
    expect(v.stats.refreshes).toBe(fetches)
  })

  it('resolves a domain tenant to its tenant ID', async () => {
    const report = await validator({ tenant: 'contoso.onmicrosoft.com' }).preflight()
    expect(report.ok).toBe(true)
    expect(report.passed.join('\n')).toContain(
      `tenant contoso.onmicrosoft.com resolves to tenant ID ${emu.tenantId}`,
    )
  })

  it('names a tenant that does not exist, apart from an unreachable issuer', async () => {
    const report = await validator({ tenant: 'fabrikam.onmicrosoft.com' }).preflight()
    expect(report.ok).toBe(false)
    expect(codes(report)).toEqual(['error tenant_not_found'])
    expect(report.problems[0]?.message).toContain("tenant 'fabrikam.onmicrosoft.com' does not exist")
    expect(report.problems[0]?.fix).toContain('cloud')
  })

  it('an App ID URI alone with v2-only tokens never matches: an error, with the fix', async () => {
    const v = validator({ audience: API.appIdUri, tokenVersions: [2] })
    const report = await v.preflight()
    expect(report.ok).toBe(false)
    expect(codes(report)).toEqual(['error audience_never_matches'])
    expect(report.problems[0]?.fix).toContain("Add the API's application (client) ID to audience")
    // The check is true: a real v2 token for the API is refused.
    const token = emu.mintToken({ audience: API.clientId, version: 2, roles: ['Stocks.Read'] })
    await expect(v.validate(token)).rejects.toMatchObject({ code: 'invalid_audience' })
  })

  it.each<[Partial<ValidatorOptions>, string]>([
    [{ audience: API.clientId, tokenVersions: [1] }, 'warning audience_v1_client_id'],
    [{ audience: API.appIdUri }, 'warning audience_misses_version'],
    [{ audience: API.clientId }, 'warning audience_misses_version'],
  ])('warns when only some tokens can match: %j', async (options, code) => {
    const report = await validator(options).preflight()
    expect(report.ok).toBe(true)
    expect(codes(report)).toEqual([code])
    expect(formatPreflight(report)).toMatch(
      /^entraguard preflight: ok \(1 warning\)\n {2}! warning \[audience_/,
    )
  })

  it('the emulator serves the public cloud: cloud usgov disagrees', async () => {
    const report = await validator({ cloud: 'usgov' }).preflight()
    expect(codes(report)).toEqual(['error cloud_mismatch'])
    expect(report.problems[0]?.message).toContain("the public cloud, but cloud is 'usgov'")
  })

  it('an authority of another cloud than `cloud` is named before any fetch', async () => {
    const report = await validator({
      cloud: 'china',
      authority: 'https://login.microsoftonline.com',
      fetch: async () => {
        throw new TypeError('offline')
      },
    }).preflight()
    expect(codes(report)).toEqual(['error cloud_mismatch', 'error metadata_unreachable'])
    expect(report.problems[0]?.message).toBe(
      "authority https://login.microsoftonline.com belongs to the public cloud, but cloud is 'china'",
    )
    expect(report.problems[1]?.message).toContain('offline')
  })

  it('a resource metadata resource that is not an audience is a warning', async () => {
    const resource = 'https://api.contoso.com/mcp'
    const report = await validator({ resourceMetadata: { resource } }).preflight()
    expect(codes(report)).toEqual(['warning resource_not_in_audience'])
    expect(report.problems[0]?.fix).toContain(`Make '${resource}' an Application ID URI of the app`)
    const right = validator({ audience: [resource, API.clientId], resourceMetadata: { resource } })
    expect(codes(await right.preflight())).toEqual([])
  })

  it('passes a multi-tenant configuration', async () => {
    const report = await validator({ tenant: 'organizations', allowedTenants: 'any' }).preflight()
    expect(report.ok).toBe(true)
    expect(report.passed.join('\n')).toContain("multi-tenant metadata of 'organizations' answers")
  })
})

describe('validator.preflight() when the issuer is out of reach', () => {
  const sockets = new Set<Socket>()
  let silent: Server
  beforeAll(async () => {
    // Accepts connections and never answers.
    silent = createServer((s) => {
      sockets.add(s)
    })
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
  })
  afterAll(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((r) => silent.close(r))
  })

  it('reports a silent issuer within the fetch timeout, and never rejects', async () => {
    const { port } = silent.address() as { port: number }
    const started = Date.now()
    const report = await validator({
      authority: `http://127.0.0.1:${port}`,
      jwks: { timeout: 300, cooldown: 0, refreshInterval: 60_000, maxBytes: 65_536, maxStale: 60_000 },
    }).preflight()
    expect(Date.now() - started).toBeLessThan(2_000)
    expect(report.ok).toBe(false)
    expect(codes(report)).toEqual(['error metadata_unreachable'])
    expect(report.problems[0]?.message).toContain('timed out after 300 ms')
    expect(report.problems[0]?.fix).toContain(`http://127.0.0.1:${port}`)
    expect(formatPreflight(report)).toContain('    fix: Check that this host reaches')
  })
})
