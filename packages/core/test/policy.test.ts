import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ConfigurationError, createPolicy, loadPolicy, type PolicyDefinition } from '@entraguard/core'
import { describe, expect, it } from 'vitest'
import { principal } from './principals.js'

const OID = 'aaaaaaaa-0000-4000-8000-000000000001'
const GROUP = 'bbbbbbbb-0000-4000-8000-000000000002'
const MIRID =
  '/subscriptions/0000/resourcegroups/trading/providers/Microsoft.Compute/virtualMachines/trader-vm'

const definition: PolicyDefinition = {
  roles: {
    'Stock Reader': { actions: ['stocks/read', 'portfolios/read'] },
    'Stock Trader': { actions: ['stocks/*'], notActions: ['stocks/delete'] },
    Auditor: { actions: ['*/read'] },
    Owner: { actions: ['*'] },
  },
  assignments: [
    { role: 'Stock Reader', appRole: 'Stocks.Read' },
    { role: 'Stock Trader', objectId: OID, scope: '/portfolios/contoso' },
    { role: 'Auditor', group: GROUP },
    { role: 'Stock Trader', managedIdentity: '/subscriptions/0000/resourceGroups/trading/*' },
    { role: 'Owner', objectId: 'cccccccc-0000-4000-8000-000000000003', scope: '/portfolios/fabrikam' },
  ],
  denyAssignments: [{ actions: ['stocks/trade'], objectId: OID, scope: '/portfolios/contoso/locked' }],
}

describe('createPolicy / authorize', () => {
  const policy = createPolicy(definition)

  it('grants by app role at the root scope, and explains what matched', () => {
    const d = policy.authorize(principal({ roles: ['Stocks.Read'] }), 'stocks/read', '/stocks/AAPL')
    expect(d.allowed).toBe(true)
    expect(d.matched).toEqual({
      assignment: expect.objectContaining({ appRole: 'Stocks.Read', scope: '/' }),
      role: 'Stock Reader',
    })
    expect(d.reason).toContain('Stock Reader at / (assigned to app role Stocks.Read) grants stocks/read')
  })

  it('a scope covers itself and its descendants, segment by segment', () => {
    const p = principal({ objectId: OID })
    expect(policy.authorize(p, 'stocks/buy', '/portfolios/contoso').allowed).toBe(true)
    expect(policy.authorize(p, 'stocks/buy', '/portfolios/contoso/AAPL').allowed).toBe(true)
    expect(policy.authorize(p, 'stocks/buy', '/portfolios/CONTOSO/aapl').allowed).toBe(true)
    const evil = policy.authorize(p, 'stocks/buy', '/portfolios/contoso-evil')
    expect(evil.allowed).toBe(false)
    expect(evil.reason).toContain('does not cover /portfolios/contoso-evil')
    expect(policy.authorize(p, 'stocks/buy', '/portfolios').allowed).toBe(false)
  })

  it('notActions exclude, and the reason says so', () => {
    const d = policy.authorize(principal({ objectId: OID }), 'stocks/delete', '/portfolios/contoso/AAPL')
    expect(d.allowed).toBe(false)
    expect(d.error?.code).toBe('forbidden')
    expect(d.error?.status).toBe(403)
    expect(d.error?.headers['WWW-Authenticate']).toBeUndefined()
    expect(d.reason).toMatch(
      /^no assignment grants stocks\/delete on \/portfolios\/contoso\/AAPL to app 3f2a7c3e.*Stock Trader at \/portfolios\/contoso excludes it via notActions$/,
    )
  })

  it('wildcards: stocks/* covers deeper actions, */read any read, * everything; case-insensitive', () => {
    expect(
      policy.authorize(principal({ objectId: OID }), 'STOCKS/Orders/Cancel', '/portfolios/contoso').allowed,
    ).toBe(true)
    const auditor = principal({ groups: [GROUP] })
    expect(policy.authorize(auditor, 'portfolios/holdings/read', '/x').allowed).toBe(true)
    expect(policy.authorize(auditor, 'portfolios/write', '/x').allowed).toBe(false)
    expect(policy.authorize(auditor, 'read', '/x').allowed).toBe(false)
    const owner = principal({ objectId: 'CCCCCCCC-0000-4000-8000-000000000003' })
    expect(policy.authorize(owner, 'anything/at/all', '/portfolios/fabrikam/x').allowed).toBe(true)
  })

  it('managed identity patterns match xms_mirid case-insensitively', () => {
    const vm = principal({ managedIdentityResourceId: MIRID })
    expect(policy.authorize(vm, 'stocks/buy', '/stocks/MSFT').allowed).toBe(true)
    const other = principal({ managedIdentityResourceId: MIRID.replace('trading', 'marketing') })
    const d = policy.authorize(other, 'stocks/buy', '/stocks/MSFT')
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('has no role assignment at all')
    expect(d.reason).toContain('managed identity')
  })

  it('deny assignments win over allows, only in their scope', () => {
    const p = principal({ objectId: OID })
    expect(policy.authorize(p, 'stocks/trade', '/portfolios/contoso/open').allowed).toBe(true)
    const d = policy.authorize(p, 'stocks/trade', '/portfolios/contoso/locked/AAPL')
    expect(d.allowed).toBe(false)
    expect(d.reason).toContain('deny assignment at /portfolios/contoso/locked')
  })

  it('refuses malformed resources and wildcard actions instead of guessing', () => {
    const owner = principal({ objectId: 'cccccccc-0000-4000-8000-000000000003' })
    for (const resource of [
      '/portfolios/fabrikam/../contoso',
      'portfolios/fabrikam',
      '/portfolios//fabrikam',
      '/portfolios/fabrikam/',
    ]) {
      expect(policy.authorize(owner, 'stocks/read', resource).allowed).toBe(false)
    }
    expect(policy.authorize(owner, 'stocks/*', '/portfolios/fabrikam').allowed).toBe(false)
  })

  it('scales: 10,000 assignments are indexed, and decisions stay correct', () => {
    const many: PolicyDefinition = {
      roles: { Reader: { actions: ['stocks/read'] } },
      assignments: Array.from({ length: 10_000 }, (_, i) => ({
        role: 'Reader',
        objectId: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
        scope: `/portfolios/p${i}`,
      })),
    }
    const big = createPolicy(many)
    const p = principal({ objectId: '00000000-0000-4000-8000-000000009999' })
    expect(big.authorize(p, 'stocks/read', '/portfolios/p9999/AAPL').allowed).toBe(true)
    expect(big.authorize(p, 'stocks/read', '/portfolios/p9998/AAPL').allowed).toBe(false)
  })
})

describe('policy validation', () => {
  it.each([
    [
      { roles: { R: { actions: ['a'] } }, assignments: [{ role: 'Nope', objectId: OID }] },
      "assignments[0].role: unknown role 'Nope'",
    ],
    [{ roles: { R: { actions: [] } } }, 'roles.R.actions: a role needs at least one action'],
    [{ roles: { R: { actions: ['stocks*'] } } }, 'roles.R.actions[0]'],
    [
      { roles: { R: { actions: ['a'] } }, assignments: [{ role: 'R', objectId: OID, scope: 'portfolios' }] },
      'assignments[0].scope',
    ],
    [
      { roles: { R: { actions: ['a'] } }, assignments: [{ role: 'R', objectId: OID, scope: '/a/../b' }] },
      'assignments[0].scope',
    ],
    [{ roles: { R: { actions: ['a'] } }, assignments: [{ role: 'R' }] }, 'names none'],
    [
      { roles: { R: { actions: ['a'] } }, assignments: [{ role: 'R', objectId: OID, group: GROUP }] },
      'names objectId and group',
    ],
    [
      { roles: { R: { actions: ['a'] } }, assignments: [{ role: 'R', objectId: OID, extra: 1 }] },
      'assignments[0]',
    ],
    [
      { roles: { R: { actions: ['a'] } }, denyAssignments: [{ actions: [], objectId: OID }] },
      'denyAssignments[0].actions',
    ],
  ])('%j → %s', (def, message) => {
    expect(() => createPolicy(def as PolicyDefinition)).toThrow(ConfigurationError)
    expect(() => createPolicy(def as PolicyDefinition)).toThrow(message)
  })

  it('loadPolicy names the file and the entry', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'entraguard-'))
    const good = join(dir, 'good.json')
    await writeFile(good, JSON.stringify(definition))
    const policy = await loadPolicy(good)
    expect(
      policy.authorize(principal({ roles: ['Stocks.Read'] }), 'stocks/read', '/stocks/AAPL').allowed,
    ).toBe(true)
    const bad = join(dir, 'bad.json')
    await writeFile(
      bad,
      JSON.stringify({ roles: { R: { actions: ['a'] } }, assignments: [{ role: 'S', appRole: 'x' }] }),
    )
    await expect(loadPolicy(bad)).rejects.toThrow(
      `policy file ${bad}:\n  - assignments[0].role: unknown role 'S'`,
    )
    const broken = join(dir, 'broken.json')
    await writeFile(broken, '{ "roles": ')
    await expect(loadPolicy(broken)).rejects.toThrow(`Policy file ${broken} is not valid JSON`)
    await expect(loadPolicy(join(dir, 'missing.json'))).rejects.toThrow('Cannot read policy file')
  })
})
