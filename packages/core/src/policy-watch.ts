import { type FSWatcher, watch } from 'node:fs'
import { basename, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { z } from 'zod'
import { type AuthEvent, type AuthEventHandler, safeEmit } from './events.js'
import { ConfigurationError } from './options.js'
import {
  checkPolicy,
  type DenyAssignment,
  type Policy,
  type PolicyProblem,
  policyFileName,
  type RoleAssignment,
  readPolicyFile,
} from './policy.js'
import { formatIssues } from './zod-errors.js'

/**
 * Where a reloadable policy comes from when it is not a file: an app's database, a blob, a config service.
 * It is validated and swapped exactly like a policy file.
 *
 * @example
 * const source: PolicySource = {
 *   name: 'policy table',
 *   read: async () => ({ roles, assignments: await db.query('select * from assignments') }),
 * }
 * const policy = await watchPolicy(source)
 * await policy.reload() // after the app changed the table
 */
export interface PolicySource {
  /** Names the source in errors and events: `policy file /etc/stock-api/policy.json`, `policy table`. */
  readonly name: string
  /** Reads the current definition (what a policy file holds, parsed). A rejection keeps the last good policy. */
  read(): Promise<unknown>
  /**
   * Starts calling `changed` whenever the definition may have changed (calls are debounced), and `failed` if
   * it cannot tell any more; returns how to stop. Without it, the app calls `reload()` itself.
   */
  watch?(changed: () => void, failed: (reason: string) => void): () => void
}

/** What a reload did: took a new policy, found the source unchanged, or kept the last good policy. */
export type PolicyReloadOutcome = 'reloaded' | 'unchanged' | 'failed'

/**
 * The `policy.reloaded` and `policy.reload_failed` events of {@link watchPolicy}: an {@link AuthEvent} with
 * what changed, or what is wrong and where.
 *
 * @example
 * await watchPolicy('policy.json', { onEvent: (e) => log.info({ added: e.added, entry: e.entry }, e.reason) })
 */
export interface PolicyReloadEvent extends AuthEvent {
  type: 'policy.reloaded' | 'policy.reload_failed'
  /** The source's name (`policy file /etc/stock-api/policy.json`). */
  source: string
  /** The file's path, for a policy file. */
  file?: string | undefined
  /** For `policy.reload_failed`: the first entry at fault (`assignments[3].role`), when the definition is wrong. */
  entry?: string | undefined
  /** For `policy.reloaded`: the role assignments that are new. */
  added?: readonly RoleAssignment[] | undefined
  /** For `policy.reloaded`: the role assignments that are gone. */
  removed?: readonly RoleAssignment[] | undefined
}

/** A policy that follows its source; see {@link watchPolicy}. */
export interface WatchedPolicy extends Policy {
  /** Reads the source now (and validates and swaps as on a change); resolves to what happened. Never rejects. */
  reload(): Promise<PolicyReloadOutcome>
  /** Stops watching. The policy in force keeps answering; `reload()` still works. */
  close(): void
}

const optionsSchema = z
  .object({
    onEvent: z
      .custom<(event: PolicyReloadEvent) => void>((v) => typeof v === 'function', {
        error: 'onEvent must be a function',
      })
      .optional(),
    debounce: z
      .number({ error: 'debounce must be a number of milliseconds' })
      .int('debounce must be a whole number of milliseconds')
      .min(0, 'debounce must be at least 0 ms')
      .max(60_000, 'debounce must be at most 60000 ms')
      .default(100),
  })
  .strict()

/** Options of {@link watchPolicy}. */
export type WatchPolicyOptions = z.input<typeof optionsSchema>

/**
 * Loads a policy file (or a {@link PolicySource}) like `loadPolicy` and keeps following it: a change, also a
 * rename over the file (editors, `mv`) or a Kubernetes ConfigMap's `..data` swap, is re-read after `debounce`
 * ms and validated; a good one replaces the policy in one step (a decision never sees half of each) and emits
 * `policy.reloaded` with the assignments added and removed; a bad one (half-written, not JSON, invalid,
 * deleted) keeps the last good policy and emits `policy.reload_failed` with the entry and the reason. A bad
 * file at start rejects with a {@link ConfigurationError} naming it. The watch keeps the process alive
 * until `close()`.
 *
 * @example
 * const policy = await watchPolicy('/etc/stock-api/policy.json', { onEvent: (e) => log.info(e, e.type) })
 * process.once('SIGTERM', () => policy.close())
 */
export async function watchPolicy(
  from: string | URL | PolicySource,
  options: WatchPolicyOptions = {},
): Promise<WatchedPolicy> {
  const parsed = optionsSchema.safeParse(options)
  if (!parsed.success) {
    throw new ConfigurationError(`Invalid watchPolicy options:\n${formatIssues(parsed.error, 'options')}`)
  }
  const { onEvent, debounce } = parsed.data
  const source = toSource(from)
  const file = typeof from === 'string' || from instanceof URL ? policyFileName(from) : undefined
  // safeEmit's handler takes any AuthEvent; this one is only ever given PolicyReloadEvents.
  const handler = onEvent as AuthEventHandler | undefined

  let current: Policy | undefined
  let seen = ''
  let seenGood = true
  let lastFailure: string | undefined
  let timer: NodeJS.Timeout | undefined
  let running: Promise<PolicyReloadOutcome> | undefined
  let queued: Promise<PolicyReloadOutcome> | undefined
  let changedEarly = false
  let closed = false

  // Watching starts before the first read, so that a change during it is not missed.
  let stop: (() => void) | undefined
  let watchError: unknown
  try {
    stop = source.watch?.(schedule, watchFailed)
  } catch (err) {
    watchError = err
  }
  try {
    const first = await initial()
    current = first.policy
    seen = first.text
    if (watchError !== undefined) {
      throw new ConfigurationError(`Cannot watch ${source.name}: ${(watchError as Error).message}`, {
        cause: watchError,
      })
    }
  } catch (err) {
    stop?.()
    throw err
  }
  if (changedEarly) schedule()

  function inForce(): Policy {
    return current as Policy
  }

  async function initial(): Promise<{ policy: Policy; text: string }> {
    let definition: unknown
    try {
      definition = await source.read()
    } catch (err) {
      throw err instanceof ConfigurationError
        ? err
        : new ConfigurationError(`Cannot read ${source.name}: ${messageOf(err)}`, { cause: err })
    }
    const checked = checkPolicy(definition)
    if ('problems' in checked) {
      throw new ConfigurationError(
        `Invalid entraguard ${source.name}:\n${checked.problems.map((p) => `  - ${p.entry}: ${p.message}`).join('\n')}`,
      )
    }
    return { policy: checked.policy, text: safeStringify(definition) ?? '' }
  }

  function schedule(): void {
    if (closed) return
    if (current === undefined) {
      changedEarly = true
      return
    }
    if (timer !== undefined) clearTimeout(timer)
    timer = setTimeout(() => {
      timer = undefined
      void reload()
    }, debounce)
  }

  function watchFailed(reason: string): void {
    fail(`stopped watching ${source.name}: ${reason}`, undefined)
  }

  function reload(): Promise<PolicyReloadOutcome> {
    if (running === undefined) {
      running = load().finally(() => {
        running = undefined
      })
      return running
    }
    // A change during a read is read again after it, once for all callers meanwhile.
    queued ??= running.then(() => {
      queued = undefined
      return reload()
    })
    return queued
  }

  async function load(): Promise<PolicyReloadOutcome> {
    let definition: unknown
    try {
      definition = await source.read()
    } catch (err) {
      seen = ''
      return fail(
        err instanceof ConfigurationError ? err.message : `Cannot read ${source.name}: ${messageOf(err)}`,
        undefined,
      )
    }
    const text = safeStringify(definition)
    if (text !== undefined && text === seen) return seenGood ? 'unchanged' : 'failed'
    seen = text ?? ''
    const checked = checkPolicy(definition)
    if ('problems' in checked) {
      seenGood = false
      const first = checked.problems[0] as PolicyProblem
      return fail(`Invalid entraguard ${source.name}: ${describeProblems(checked.problems)}`, first.entry)
    }
    const previous = inForce().definition
    current = checked.policy
    seenGood = true
    lastFailure = undefined
    const next = checked.policy.definition
    const added = difference(previous.assignments, next.assignments, assignmentKey)
    const removed = difference(next.assignments, previous.assignments, assignmentKey)
    emit({
      type: 'policy.reloaded',
      at: new Date(),
      source: source.name,
      file,
      added,
      removed,
      reason: `${source.name} reloaded: ${changes(previous, next, added.length, removed.length)}`,
    })
    return 'reloaded'
  }

  function emit(event: PolicyReloadEvent): void {
    safeEmit(handler, event)
  }

  function fail(reason: string, entry: string | undefined): 'failed' {
    // The same failure again (a directory event, a repeated reload()) is not news.
    if (reason !== lastFailure) {
      lastFailure = reason
      emit({
        type: 'policy.reload_failed',
        at: new Date(),
        source: source.name,
        file,
        entry,
        reason: `${reason}; the last good policy stays in force`,
      })
    }
    return 'failed'
  }

  return {
    authorize: (principal, action, resource) => inForce().authorize(principal, action, resource),
    get definition() {
      return inForce().definition
    },
    reload,
    close() {
      closed = true
      if (timer !== undefined) clearTimeout(timer)
      timer = undefined
      stop?.()
      stop = undefined
    },
  }
}

function toSource(from: string | URL | PolicySource): PolicySource {
  if (typeof from === 'string' && from !== '') return fileSource(from)
  if (from instanceof URL) {
    if (from.protocol !== 'file:')
      throw new ConfigurationError(`watchPolicy needs a file: URL, not ${from.href}`)
    return fileSource(from)
  }
  if (
    typeof from === 'object' &&
    from !== null &&
    typeof from.read === 'function' &&
    typeof from.name === 'string' &&
    (from.watch === undefined || typeof from.watch === 'function')
  ) {
    return from
  }
  throw new ConfigurationError(
    'watchPolicy takes a policy file path (a string or file: URL) or a PolicySource ({ name, read(), watch?() })',
  )
}

/**
 * A policy file, watched through its directory: editors and ConfigMaps replace a file by renaming another
 * over it (or by swapping the `..data` link), which a watch on the file itself would not follow.
 */
function fileSource(path: string | URL): PolicySource {
  const full = resolve(path instanceof URL ? fileURLToPath(path) : path)
  const base = basename(full)
  return {
    name: `policy file ${policyFileName(path)}`,
    read: () => readPolicyFile(path),
    watch(changed, failed) {
      const watcher: FSWatcher = watch(dirname(full), (_event, filename) => {
        if (filename === null || filename === base || filename.startsWith('..')) changed()
      })
      watcher.on('error', (err) => {
        failed(messageOf(err))
        watcher.close()
      })
      return () => watcher.close()
    },
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

function safeStringify(value: unknown): string | undefined {
  try {
    return JSON.stringify(value)
  } catch {
    return undefined
  }
}

function describeProblems(problems: readonly PolicyProblem[]): string {
  const shown = problems.slice(0, 5).map((p) => `${p.entry}: ${p.message}`)
  return `${shown.join('; ')}${problems.length > 5 ? `; and ${problems.length - 5} more` : ''}`
}

type Selector = {
  objectId?: string | undefined
  appRole?: string | undefined
  group?: string | undefined
  managedIdentity?: string | undefined
  scope: string
}

// What an assignment grants, and to whom: IDs and paths compare case-insensitively, as the policy does.
function selectorKey(a: Selector): unknown[] {
  return [
    a.objectId?.toLowerCase(),
    a.appRole,
    a.group?.toLowerCase(),
    a.managedIdentity?.toLowerCase(),
    a.scope.toLowerCase(),
  ]
}
const assignmentKey = (a: RoleAssignment) => JSON.stringify([a.role, ...selectorKey(a)])
const denyKey = (d: DenyAssignment) => JSON.stringify([d.actions, d.notActions, ...selectorKey(d)])

/** The entries of `to` that `from` does not hold (as a multiset, by key). */
function difference<T>(from: readonly T[], to: readonly T[], key: (item: T) => string): T[] {
  const counts = new Map<string, number>()
  for (const item of from) counts.set(key(item), (counts.get(key(item)) ?? 0) + 1)
  const out: T[] = []
  for (const item of to) {
    const n = counts.get(key(item)) ?? 0
    if (n > 0) counts.set(key(item), n - 1)
    else out.push(Object.freeze({ ...item }))
  }
  return out
}

function changes(previous: Policy['definition'], next: Policy['definition'], added: number, removed: number) {
  const plural = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`
  const parts = [`${plural(added, 'assignment')} added, ${removed} removed`]
  const deniesAdded = difference(previous.denyAssignments, next.denyAssignments, denyKey).length
  const deniesRemoved = difference(next.denyAssignments, previous.denyAssignments, denyKey).length
  if (deniesAdded + deniesRemoved > 0) {
    parts.push(`${plural(deniesAdded, 'deny assignment')} added, ${deniesRemoved} removed`)
  }
  const names = new Set([...Object.keys(previous.roles), ...Object.keys(next.roles)])
  const roles = [...names].filter(
    (n) => JSON.stringify(previous.roles[n] ?? null) !== JSON.stringify(next.roles[n] ?? null),
  )
  if (roles.length > 0) parts.push(`roles changed: ${roles.map((r) => `'${r}'`).join(', ')}`)
  return parts.join('; ')
}
