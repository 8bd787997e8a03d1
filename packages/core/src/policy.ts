import { readFile } from 'node:fs/promises'
import { z } from 'zod'
import { AuthError } from './errors.js'
import { ConfigurationError } from './options.js'
import type { Principal } from './principal.js'
import { type Decision, describePrincipal } from './requirements.js'
import { formatIssues } from './zod-errors.js'

const SEGMENT = /^[^/*\s\u0000-\u001f]+$/

/** Checks an action pattern: `/`-separated segments, each a name or a whole `*`. */
function actionProblem(action: string): string | undefined {
  if (action === '') return 'an action must not be empty'
  for (const segment of action.split('/')) {
    if (segment !== '*' && !SEGMENT.test(segment)) {
      return `'${action}' is not an action: use names separated by '/', with '*' only as a whole segment (stocks/*, */read)`
    }
  }
  return undefined
}

/** Normalises a scope or resource path: leading '/', no empty, '.' or '..' segments, no trailing '/'. */
function parsePath(path: string): string[] | undefined {
  if (!path.startsWith('/')) return undefined
  if (path === '/') return []
  const segments = path.slice(1).split('/')
  for (const s of segments)
    if (s === '' || s === '.' || s === '..' || !/^[^\s\u0000-\u001f]+$/.test(s)) return undefined
  return segments.map((s) => s.toLowerCase())
}

const actions = z.array(
  z.string().superRefine((a, ctx) => {
    const problem = actionProblem(a)
    if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem })
  }),
)

const selectorKeys = ['objectId', 'appRole', 'group', 'managedIdentity'] as const
const selector = {
  objectId: z.string().min(1).optional(),
  appRole: z.string().min(1).optional(),
  group: z.string().min(1).optional(),
  managedIdentity: z
    .string()
    .startsWith('/', 'managedIdentity is an Azure resource ID pattern starting with /subscriptions/')
    .optional(),
  scope: z
    .string()
    .refine((s) => parsePath(s) !== undefined, {
      error:
        "scope must be a path such as '/' or '/portfolios/contoso' (no empty, '.' or '..' segments, no trailing '/')",
    })
    .default('/'),
  description: z.string().optional(),
}

function oneSelector(a: Record<string, unknown>, ctx: z.RefinementCtx): void {
  const present = selectorKeys.filter((k) => a[k] !== undefined)
  if (present.length !== 1) {
    ctx.addIssue({
      code: 'custom',
      message: `an assignment names exactly one security principal (objectId, appRole, group or managedIdentity); this one names ${present.length === 0 ? 'none' : present.join(' and ')}`,
    })
  }
}

const policySchema = z
  .object({
    /** Editors' JSON Schema reference (docs/policy.schema.json); ignored. */
    $schema: z.string().optional(),
    roles: z.record(
      z.string().min(1),
      z
        .object({
          description: z.string().optional(),
          actions: actions.min(1, 'a role needs at least one action'),
          notActions: actions.default([]),
        })
        .strict(),
    ),
    assignments: z
      .array(
        z
          .object({ role: z.string().min(1), ...selector })
          .strict()
          .superRefine(oneSelector),
      )
      .default([]),
    denyAssignments: z
      .array(
        z
          .object({
            actions: actions.min(1, 'a deny assignment needs at least one action'),
            notActions: actions.default([]),
            ...selector,
          })
          .strict()
          .superRefine(oneSelector),
      )
      .default([]),
  })
  .strict()
  .superRefine((p, ctx) => {
    p.assignments.forEach((a, i) => {
      if (!Object.hasOwn(p.roles, a.role)) {
        ctx.addIssue({
          code: 'custom',
          path: ['assignments', i, 'role'],
          message: `unknown role '${a.role}'; defined roles: ${
            Object.keys(p.roles)
              .map((r) => `'${r}'`)
              .join(', ') || 'none'
          }`,
        })
      }
    })
  })

/** A policy document: role definitions, assignments and deny assignments (Azure RBAC's model). */
export type PolicyDefinition = z.input<typeof policySchema>
/** A role assignment: one security principal, a role, a scope (default `/`). */
export type RoleAssignment = z.output<typeof policySchema>['assignments'][number]
/** A deny assignment: wins over every allow. */
export type DenyAssignment = z.output<typeof policySchema>['denyAssignments'][number]

/** An RBAC policy, see {@link createPolicy}. */
export interface Policy {
  /** Decides whether the principal may perform `action` on `resource`, with a reason. Pure and synchronous. */
  authorize(principal: Principal, action: string, resource: string): Decision
  /** The role definitions and assignments, as validated. */
  readonly definition: Readonly<z.output<typeof policySchema>>
}

interface CompiledPermissions {
  actions: RegExp[]
  notActions: RegExp[]
}

interface Entry<A> {
  assignment: A
  index: number
  scope: string[]
  permissions: CompiledPermissions
  roleName: string | undefined
}

function compileAction(pattern: string): RegExp {
  const body = pattern
    .split('/')
    .map((s) => (s === '*' ? '[^/]+(?:/[^/]+)*' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('/')
  return new RegExp(`^${body}$`, 'i')
}

function compileResourcePattern(pattern: string): RegExp {
  const body = pattern
    .split('*')
    .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))
    .join('.*')
  return new RegExp(`^${body}$`, 'i')
}

function covers(scope: string[], resource: string[]): boolean {
  if (scope.length > resource.length) return false
  for (let i = 0; i < scope.length; i++) if (scope[i] !== resource[i]) return false
  return true
}

function permits(p: CompiledPermissions, action: string): 'yes' | 'no' | 'excluded' {
  if (!p.actions.some((r) => r.test(action))) return 'no'
  return p.notActions.some((r) => r.test(action)) ? 'excluded' : 'yes'
}

class Index<
  A extends {
    objectId?: string | undefined
    appRole?: string | undefined
    group?: string | undefined
    managedIdentity?: string | undefined
  },
> {
  readonly byObjectId = new Map<string, Entry<A>[]>()
  readonly byAppRole = new Map<string, Entry<A>[]>()
  readonly byGroup = new Map<string, Entry<A>[]>()
  readonly byIdentity: { pattern: RegExp; entry: Entry<A> }[] = []

  add(entry: Entry<A>): void {
    const a = entry.assignment
    const put = (map: Map<string, Entry<A>[]>, key: string) => {
      const bucket = map.get(key)
      if (bucket === undefined) map.set(key, [entry])
      else bucket.push(entry)
    }
    if (a.objectId !== undefined) put(this.byObjectId, a.objectId.toLowerCase())
    else if (a.appRole !== undefined) put(this.byAppRole, a.appRole)
    else if (a.group !== undefined) put(this.byGroup, a.group.toLowerCase())
    else if (a.managedIdentity !== undefined)
      this.byIdentity.push({ pattern: compileResourcePattern(a.managedIdentity), entry })
  }

  /** The entries whose security principal is this principal, in policy order. */
  candidates(principal: Principal): Entry<A>[] {
    const found: Entry<A>[] = []
    if (principal.objectId !== undefined)
      found.push(...(this.byObjectId.get(principal.objectId.toLowerCase()) ?? []))
    for (const role of principal.roles) found.push(...(this.byAppRole.get(role) ?? []))
    for (const group of principal.groups) found.push(...(this.byGroup.get(group.toLowerCase()) ?? []))
    const mirid = principal.managedIdentityResourceId
    if (mirid !== undefined)
      for (const { pattern, entry } of this.byIdentity) if (pattern.test(mirid)) found.push(entry)
    return found.length > 1 ? found.sort((x, y) => x.index - y.index) : found
  }
}

function principalLabel(a: {
  objectId?: string | undefined
  appRole?: string | undefined
  group?: string | undefined
  managedIdentity?: string | undefined
}): string {
  if (a.objectId !== undefined) return `object ${a.objectId}`
  if (a.appRole !== undefined) return `app role ${a.appRole}`
  if (a.group !== undefined) return `group ${a.group}`
  return `managed identity ${a.managedIdentity}`
}

function forbidden(reason: string): Decision {
  return {
    allowed: false,
    reason,
    error: new AuthError('forbidden', {
      description: 'You do not have permission to perform this action',
      detail: reason,
    }),
  }
}

/**
 * Creates an RBAC policy: role definitions with `actions` / `notActions` (`*` wildcards on whole segments,
 * case-insensitive), assignments of a role at a scope to an object ID, app role, group or managed identity,
 * and deny assignments that win over every allow. A wrong definition throws a {@link ConfigurationError}
 * that points at the entry.
 *
 * @example
 * const policy = createPolicy({
 *   roles: { 'Stock Reader': { actions: ['stocks/read'] } },
 *   assignments: [{ role: 'Stock Reader', appRole: 'Stocks.Read' }],
 * })
 * policy.authorize(principal, 'stocks/read', '/stocks/AAPL').allowed
 */
export function createPolicy(definition: PolicyDefinition, source = 'policy'): Policy {
  const result = policySchema.safeParse(definition)
  if (!result.success) {
    throw new ConfigurationError(
      `Invalid entraguard ${source}:\n${formatIssues(result.error, source === 'policy' ? 'policy' : '')}`,
    )
  }
  return compile(result.data)
}

/** A problem of a policy definition: the entry at fault (`assignments[3].role`, or `(document)`) and why. */
export interface PolicyProblem {
  entry: string
  message: string
}

/**
 * Validates and compiles a definition without throwing: the policy, or every problem with its entry. For
 * reloads, which keep the last good policy and report the problems.
 */
export function checkPolicy(definition: unknown): { policy: Policy } | { problems: PolicyProblem[] } {
  const result = policySchema.safeParse(definition)
  if (result.success) return { policy: compile(result.data) }
  return {
    problems: result.error.issues.map((issue) => {
      let entry = ''
      for (const key of issue.path) {
        entry += typeof key === 'number' ? `[${key}]` : entry === '' ? String(key) : `.${String(key)}`
      }
      return { entry: entry === '' ? '(document)' : entry, message: issue.message }
    }),
  }
}

function compile(def: z.output<typeof policySchema>): Policy {
  const roles = new Map<string, CompiledPermissions>()
  for (const [name, role] of Object.entries(def.roles)) {
    roles.set(name, {
      actions: role.actions.map(compileAction),
      notActions: role.notActions.map(compileAction),
    })
  }
  const allows = new Index<RoleAssignment>()
  def.assignments.forEach((a, index) => {
    allows.add({
      assignment: a,
      index,
      scope: parsePath(a.scope) ?? [],
      permissions: roles.get(a.role) as CompiledPermissions,
      roleName: a.role,
    })
  })
  const denies = new Index<DenyAssignment>()
  def.denyAssignments.forEach((d, index) => {
    denies.add({
      assignment: d,
      index,
      scope: parsePath(d.scope) ?? [],
      permissions: { actions: d.actions.map(compileAction), notActions: d.notActions.map(compileAction) },
      roleName: undefined,
    })
  })

  return {
    definition: def,
    authorize(principal, action, resource) {
      const subject = describePrincipal(principal)
      if (typeof action !== 'string' || actionProblem(action) !== undefined || action.includes('*')) {
        return forbidden(`'${String(action)}' is not a concrete action`)
      }
      const path = typeof resource === 'string' ? parsePath(resource) : undefined
      if (path === undefined) {
        return forbidden(
          `resource '${String(resource).slice(0, 200)}' is not a valid path (absolute, no empty, '.' or '..' segments)`,
        )
      }
      for (const deny of denies.candidates(principal)) {
        if (covers(deny.scope, path) && permits(deny.permissions, action) === 'yes') {
          return forbidden(
            `a deny assignment at ${deny.assignment.scope} for ${principalLabel(deny.assignment)} blocks ${action} on ${resource} for ${subject}`,
          )
        }
      }
      const candidates = allows.candidates(principal)
      const near: string[] = []
      for (const entry of candidates) {
        const inScope = covers(entry.scope, path)
        const verdict = permits(entry.permissions, action)
        if (inScope && verdict === 'yes') {
          return {
            allowed: true,
            reason: `${entry.roleName} at ${entry.assignment.scope} (assigned to ${principalLabel(entry.assignment)}) grants ${action} on ${resource} to ${subject}`,
            matched: { assignment: Object.freeze({ ...entry.assignment }), role: entry.roleName as string },
          }
        }
        if (near.length < 3) {
          near.push(
            verdict === 'excluded' && inScope
              ? `${entry.roleName} at ${entry.assignment.scope} excludes it via notActions`
              : verdict === 'no'
                ? `${entry.roleName} at ${entry.assignment.scope} does not include ${action}`
                : `${entry.roleName} at ${entry.assignment.scope} does not cover ${resource}`,
          )
        }
      }
      const why =
        candidates.length === 0 ? `; ${subject} has no role assignment at all` : `; ${near.join('; ')}`
      return forbidden(`no assignment grants ${action} on ${resource} to ${subject}${why}`)
    },
  }
}

/**
 * Loads and validates a policy from a JSON file. Errors name the file and the entry.
 *
 * @example
 * const policy = await loadPolicy(new URL('./policy.json', import.meta.url))
 */
export async function loadPolicy(path: string | URL): Promise<Policy> {
  return createPolicy((await readPolicyFile(path)) as PolicyDefinition, `policy file ${policyFileName(path)}`)
}

/** The name of a policy file in messages: the path as given, or a file URL's path. */
export function policyFileName(path: string | URL): string {
  return String(path instanceof URL ? path.pathname : path)
}

/** Reads and parses a policy file; a missing, unreadable or non-JSON file throws a ConfigurationError naming it. */
export async function readPolicyFile(path: string | URL): Promise<unknown> {
  const name = policyFileName(path)
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (cause) {
    throw new ConfigurationError(`Cannot read policy file ${name}: ${(cause as Error).message}`, { cause })
  }
  try {
    return JSON.parse(text)
  } catch (cause) {
    throw new ConfigurationError(`Policy file ${name} is not valid JSON: ${(cause as Error).message}`, {
      cause,
    })
  }
}
