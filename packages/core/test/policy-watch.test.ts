import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  ConfigurationError,
  type PolicyDefinition,
  type PolicyReloadEvent,
  type PolicySource,
  type WatchedPolicy,
  watchPolicy,
} from '@entraguard/core'
import { afterEach, describe, expect, it } from 'vitest'
import { principal } from './principals.js'

const reader = principal({ roles: ['Stocks.Read'] })
const trader = principal({ roles: ['Stocks.Trade'] })

const roles = {
  'Stock Reader': { actions: ['stocks/read'] },
  'Stock Trader': { actions: ['stocks/*'] },
}
const v1: PolicyDefinition = { roles, assignments: [{ role: 'Stock Reader', appRole: 'Stocks.Read' }] }
const v2: PolicyDefinition = {
  roles,
  assignments: [
    { role: 'Stock Reader', appRole: 'Stocks.Read' },
    { role: 'Stock Trader', appRole: 'Stocks.Trade' },
  ],
}
const v3: PolicyDefinition = { roles, assignments: [{ role: 'Stock Trader', appRole: 'Stocks.Trade' }] }

const json = (d: unknown) => `${JSON.stringify(d, null, 2)}\n`
const cleanup: (() => unknown)[] = []
afterEach(async () => {
  for (const f of cleanup.splice(0).reverse()) await f()
})

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'entraguard-watch-'))
  cleanup.push(() => rm(dir, { recursive: true, force: true }))
  return dir
}

/** A watched policy file in a fresh directory, with the events it emits. */
async function watched(initial: unknown = v1) {
  const dir = await tempDir()
  const file = join(dir, 'policy.json')
  await writeFile(file, json(initial))
  const events: PolicyReloadEvent[] = []
  const policy = await watchPolicy(file, { debounce: 20, onEvent: (e) => events.push(e) })
  cleanup.push(() => policy.close())
  return { dir, file, policy, events }
}

/** Polls until `predicate` holds, for at most `ms`; returns whether it did. */
async function until(predicate: () => boolean, ms = 5_000): Promise<boolean> {
  const deadline = Date.now() + ms
  while (!predicate()) {
    if (Date.now() > deadline) return false
    await new Promise((r) => setTimeout(r, 10))
  }
  return true
}

const canTrade = (p: WatchedPolicy) => p.authorize(trader, 'stocks/trade', '/stocks/AAPL').allowed
const canRead = (p: WatchedPolicy) => p.authorize(reader, 'stocks/read', '/stocks/AAPL').allowed
const ofType = (events: PolicyReloadEvent[], type: PolicyReloadEvent['type']) =>
  events.filter((e) => e.type === type)

describe('watchPolicy: a policy file', () => {
  it('reloads an edited file and reports the assignments added and removed', async () => {
    const { file, policy, events } = await watched()
    expect(canRead(policy)).toBe(true)
    expect(canTrade(policy)).toBe(false)

    await writeFile(file, json(v2))
    expect(await until(() => canTrade(policy))).toBe(true)
    const [first] = ofType(events, 'policy.reloaded')
    expect(first).toMatchObject({
      source: `policy file ${file}`,
      file,
      added: [{ role: 'Stock Trader', appRole: 'Stocks.Trade', scope: '/' }],
      removed: [],
    })
    expect(first?.reason).toBe(`policy file ${file} reloaded: 1 assignment added, 0 removed`)
    expect(first?.at).toBeInstanceOf(Date)

    await writeFile(file, json(v3))
    expect(await until(() => !canRead(policy))).toBe(true)
    expect(ofType(events, 'policy.reloaded')[1]).toMatchObject({
      added: [],
      removed: [{ role: 'Stock Reader', appRole: 'Stocks.Read' }],
    })
    expect(policy.definition.assignments).toHaveLength(1)
    expect(ofType(events, 'policy.reloaded')).toHaveLength(2)
  })

  it('follows a file replaced by rename, as editors and atomic writers do', async () => {
    const { dir, file, policy, events } = await watched()
    const temp = join(dir, '.policy.json.tmp')
    await writeFile(temp, json(v2))
    await rename(temp, file)
    expect(await until(() => canTrade(policy))).toBe(true)

    // And again: a watch on the old inode would have stopped at the first rename.
    await writeFile(temp, json(v3))
    await rename(temp, file)
    expect(await until(() => !canRead(policy))).toBe(true)
    expect(ofType(events, 'policy.reloaded')).toHaveLength(2)
  })

  it("follows a Kubernetes ConfigMap update: the '..data' link swapped to a new directory", async () => {
    const dir = await tempDir()
    await mkdir(join(dir, '..2026_01_01_a'))
    await writeFile(join(dir, '..2026_01_01_a', 'policy.json'), json(v1))
    await symlink('..2026_01_01_a', join(dir, '..data'))
    await symlink(join('..data', 'policy.json'), join(dir, 'policy.json'))
    const events: PolicyReloadEvent[] = []
    const policy = await watchPolicy(join(dir, 'policy.json'), {
      debounce: 20,
      onEvent: (e) => events.push(e),
    })
    cleanup.push(() => policy.close())
    expect(canTrade(policy)).toBe(false)

    // What the kubelet's atomic writer does: a new directory, a new link, renamed over '..data'.
    await mkdir(join(dir, '..2026_01_01_b'))
    await writeFile(join(dir, '..2026_01_01_b', 'policy.json'), json(v2))
    await symlink('..2026_01_01_b', join(dir, '..data_tmp'))
    await rename(join(dir, '..data_tmp'), join(dir, '..data'))
    await rm(join(dir, '..2026_01_01_a'), { recursive: true })
    expect(await until(() => canTrade(policy))).toBe(true)
    expect(ofType(events, 'policy.reloaded')).toHaveLength(1)
  })

  it('keeps the last good policy through a half-written file, then takes the finished one', async () => {
    const { file, policy, events } = await watched()
    const text = json(v2)
    await writeFile(file, text.slice(0, text.length / 2))
    expect(await until(() => ofType(events, 'policy.reload_failed').length > 0)).toBe(true)
    const [failed] = ofType(events, 'policy.reload_failed')
    expect(failed?.reason).toContain(`Policy file ${file} is not valid JSON`)
    expect(failed?.reason).toContain('the last good policy stays in force')
    expect(failed?.entry).toBeUndefined()
    expect(canRead(policy)).toBe(true)
    expect(canTrade(policy)).toBe(false)

    await writeFile(file, text)
    expect(await until(() => canTrade(policy))).toBe(true)
    expect(ofType(events, 'policy.reloaded')).toHaveLength(1)
  })

  it('keeps the last good policy when the new one is invalid, naming the entry', async () => {
    const { file, policy, events } = await watched()
    await writeFile(
      file,
      json({
        roles,
        assignments: [
          { role: 'Stock Reader', appRole: 'Stocks.Read' },
          { role: 'Trader', group: 'g' },
        ],
      }),
    )
    expect(await until(() => ofType(events, 'policy.reload_failed').length > 0)).toBe(true)
    const [failed] = ofType(events, 'policy.reload_failed')
    expect(failed?.entry).toBe('assignments[1].role')
    expect(failed?.reason).toContain(
      `Invalid entraguard policy file ${file}: assignments[1].role: unknown role 'Trader'`,
    )
    expect(failed?.file).toBe(file)
    expect(canRead(policy)).toBe(true)
    expect(policy.definition.assignments).toHaveLength(1)
    expect(await policy.reload()).toBe('failed')
    expect(ofType(events, 'policy.reload_failed')).toHaveLength(1)
  })

  it('keeps the last good policy while the file is deleted, and reloads it when it is back', async () => {
    const { file, policy, events } = await watched()
    await rm(file)
    expect(await until(() => ofType(events, 'policy.reload_failed').length > 0)).toBe(true)
    expect(ofType(events, 'policy.reload_failed')[0]?.reason).toMatch(
      new RegExp(`^Cannot read policy file ${file}: ENOENT`),
    )
    expect(canRead(policy)).toBe(true)

    await writeFile(file, json(v2))
    expect(await until(() => canTrade(policy))).toBe(true)
    expect(canRead(policy)).toBe(true)
  })

  it('reload() reads now, and says when nothing changed', async () => {
    const { file, policy } = await watched()
    expect(await policy.reload()).toBe('unchanged')
    policy.close()
    await writeFile(file, json(v2))
    expect(await policy.reload()).toBe('reloaded')
    expect(canTrade(policy)).toBe(true)
  })

  it.each([
    ['a missing file', undefined, 'Cannot read policy file'],
    ['a file that is not JSON', '{ "roles": ', 'is not valid JSON'],
    [
      'an invalid policy',
      json({ roles, assignments: [{ role: 'Nobody', appRole: 'X' }] }),
      "assignments[0].role: unknown role 'Nobody'",
    ],
  ])('rejects at start, naming the file: %s', async (_, content, message) => {
    const dir = await tempDir()
    const file = join(dir, 'policy.json')
    if (content !== undefined) await writeFile(file, content)
    const before = watchHandles()
    const error = await watchPolicy(file).catch((e: unknown) => e)
    expect(error).toBeInstanceOf(ConfigurationError)
    expect((error as Error).message).toContain(file)
    expect((error as Error).message).toContain(message)
    // A closed watch's handle goes on the next turn of the event loop.
    expect(await until(() => watchHandles() === before, 1_000)).toBe(true)
  })

  it('refuses options it does not know, naming them', async () => {
    const { file } = await watched()
    await expect(watchPolicy(file, { debounce: -1 })).rejects.toThrow('options.debounce')
    // @ts-expect-error: not an option
    await expect(watchPolicy(file, { interval: 5 })).rejects.toThrow(ConfigurationError)
    await expect(watchPolicy(new URL('https://example.com/policy.json'))).rejects.toThrow('file: URL')
  })

  it('close() leaves no watch handle behind, and later changes are not followed', async () => {
    const before = watchHandles()
    const { file, policy, events } = await watched()
    expect(watchHandles()).toBe(before + 1)
    policy.close()
    expect(await until(() => watchHandles() === before, 1_000)).toBe(true)

    await writeFile(file, json(v2))
    await new Promise((r) => setTimeout(r, 200))
    expect(events).toEqual([])
    expect(canTrade(policy)).toBe(false)
  })
})

/** The directory watches keeping the event loop alive. */
function watchHandles(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'FSEventWrap').length
}

describe('watchPolicy: a PolicySource', () => {
  /** A source backed by a variable, like a table the app updates. */
  function memorySource(initial: unknown) {
    let value = initial
    let notify: (() => void) | undefined
    const source: PolicySource = {
      name: 'policy table',
      read: async () => structuredClone(value),
      watch(changed) {
        notify = changed
        return () => {
          notify = undefined
        }
      },
    }
    return {
      source,
      set(next: unknown) {
        value = next
        notify?.()
      },
      get watching() {
        return notify !== undefined
      },
    }
  }

  it('validates and swaps like a file, through watch() or reload()', async () => {
    const table = memorySource(v1)
    const events: PolicyReloadEvent[] = []
    const policy = await watchPolicy(table.source, { debounce: 0, onEvent: (e) => events.push(e) })
    expect(table.watching).toBe(true)
    table.set(v2)
    expect(await until(() => canTrade(policy))).toBe(true)
    expect(events[0]).toMatchObject({ type: 'policy.reloaded', source: 'policy table', file: undefined })

    table.set({ roles, assignments: [{ role: 'Stock Trader' }] })
    expect(await until(() => events.length === 2)).toBe(true)
    expect(events[1]).toMatchObject({ type: 'policy.reload_failed', entry: 'assignments[0]' })
    expect(canTrade(policy)).toBe(true)

    policy.close()
    expect(table.watching).toBe(false)
  })

  it('a read that rejects keeps the last good policy; a bad start rejects naming the source', async () => {
    let fail = false
    const events: PolicyReloadEvent[] = []
    const policy = await watchPolicy(
      {
        name: 'policy blob',
        read: async () => {
          if (fail) throw new Error('503 from storage')
          return v1
        },
      },
      { onEvent: (e) => events.push(e) },
    )
    fail = true
    expect(await policy.reload()).toBe('failed')
    expect(events[0]?.reason).toBe(
      'Cannot read policy blob: 503 from storage; the last good policy stays in force',
    )
    expect(canRead(policy)).toBe(true)

    await expect(
      watchPolicy({ name: 'policy blob', read: async () => ({ roles: {}, extra: 1 }) }),
    ).rejects.toThrow('Invalid entraguard policy blob:\n  - (document)')
    // @ts-expect-error: not a source
    await expect(watchPolicy({ read: 1 })).rejects.toThrow('PolicySource')
  })

  it('no decision ever sees half of two policies, however fast they swap', async () => {
    // Two policies that each grant exactly one of the two actions: a mix would grant both or neither.
    const a: PolicyDefinition = { roles, assignments: [{ role: 'Stock Reader', appRole: 'Stocks.Trade' }] }
    const b: PolicyDefinition = {
      roles: { 'Stock Reader': { actions: ['stocks/trade'] } },
      assignments: [{ role: 'Stock Reader', appRole: 'Stocks.Trade' }],
    }
    let turn = 0
    const policy = await watchPolicy({ name: 'flip', read: async () => (turn++ % 2 === 0 ? a : b) })
    const reloads: Promise<unknown>[] = []
    for (let i = 0; i < 200; i++) {
      reloads.push(policy.reload())
      const read = policy.authorize(trader, 'stocks/read', '/stocks/X').allowed
      const trade = policy.authorize(trader, 'stocks/trade', '/stocks/X').allowed
      expect(read !== trade).toBe(true)
      await new Promise((r) => setImmediate(r))
    }
    await Promise.all(reloads)
  })
})
