import { randomUUID } from 'node:crypto'
import { z } from 'zod'

const guid = (what: string) =>
  z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, `${what} must be a GUID`)

const assignment = z.object({ app: z.string().min(1), role: z.string().min(1) }).strict()

const schema = z
  .object({
    port: z.number().int().min(0).max(65535).default(0),
    host: z
      .string()
      .refine((h) => h === 'localhost' || h === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h), {
        error:
          'host must be a loopback address (127.0.0.1, ::1 or localhost): the emulator is for local use only',
      })
      .default('127.0.0.1'),
    https: z.boolean().default(false),
    /** Seconds; managed-identity tokens default to 86,700 s (24 h 5 min, as real ones), others to 3,600 s. */
    tokenLifetime: z.number().int().positive().optional(),
    /** Milliseconds an old key stays published after rotateKeys(). */
    keyGracePeriod: z
      .number()
      .int()
      .min(0)
      .default(24 * 60 * 60_000),
    tenants: z
      .array(z.object({ id: guid('tenants[].id').optional(), domain: z.string().min(3).optional() }).strict())
      .default([]),
    apps: z
      .array(
        z
          .object({
            clientId: guid('apps[].clientId').optional(),
            name: z.string().optional(),
            appIdUri: z.string().min(1).optional(),
            appRoles: z.array(z.string().min(1)).default([]),
            scopes: z.array(z.string().min(1)).default([]),
            accessTokenAcceptedVersion: z.union([z.literal(1), z.literal(2), z.null()]).default(null),
            secrets: z.array(z.string().min(1)).default([]),
            appRoleAssignments: z.array(assignment).default([]),
            customSigningKey: z.boolean().default(false),
            tenant: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
    identities: z
      .array(
        z
          .object({
            name: z.string().min(1).optional(),
            clientId: guid('identities[].clientId').optional(),
            objectId: guid('identities[].objectId').optional(),
            resourceId: z
              .string()
              .startsWith('/subscriptions/', 'resourceId is an Azure resource ID (/subscriptions/…)')
              .optional(),
            kind: z.enum(['system', 'user']).default('user'),
            appRoleAssignments: z.array(assignment).default([]),
            tenant: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
    users: z
      .array(
        z
          .object({
            objectId: guid('users[].objectId').optional(),
            name: z.string().optional(),
            username: z.string().optional(),
            tenant: z.string().optional(),
          })
          .strict(),
      )
      .default([]),
  })
  .strict()

/** Configuration of {@link startEmulator}; every field has a generated default. */
export type EmulatorOptions = z.input<typeof schema>

/** A tenant of the emulated directory. */
export interface Tenant {
  id: string
  domain: string
}
/** An app registration: an API (app roles, scopes, accepted token version) and/or a client (secrets, role assignments). */
export interface App {
  clientId: string
  name: string
  appIdUri: string | undefined
  appRoles: string[]
  scopes: string[]
  accessTokenAcceptedVersion: 1 | 2
  secrets: string[]
  appRoleAssignments: { app: string; role: string }[]
  customSigningKey: boolean
  tenant: Tenant
}
/** A managed identity (system- or user-assigned) and its app-role assignments. */
export interface Identity {
  name: string
  clientId: string
  objectId: string
  resourceId: string
  kind: 'system' | 'user'
  appRoleAssignments: { app: string; role: string }[]
  tenant: Tenant
}
/** A user, for delegated tokens. */
export interface User {
  objectId: string
  name: string
  username: string
  tenant: Tenant
}

/** The emulator configuration with every default filled in. */
export interface EmulatorConfig {
  port: number
  host: string
  https: boolean
  tokenLifetime: number | undefined
  keyGracePeriod: number
  tenants: Tenant[]
  apps: App[]
  identities: Identity[]
  users: User[]
}

/** Thrown for a configuration the emulator cannot run. */
export class EmulatorConfigError extends Error {
  override readonly name = 'EmulatorConfigError'
}

function issuesOf(error: z.ZodError, source: string): string {
  return error.issues
    .map((i) => {
      let path = ''
      for (const k of i.path)
        path += typeof k === 'number' ? `[${k}]` : path === '' ? String(k) : `.${String(k)}`
      return `  - ${path || '(root)'}: ${i.message}`
    })
    .join('\n')
}

const slug = (s: string) => s.toLowerCase().replace(/[^a-z0-9-]+/g, '-')

/** Validates the options and fills every default; throws {@link EmulatorConfigError}. */
export function resolveConfig(input: unknown, source = 'emulator options'): EmulatorConfig {
  const parsed = schema.safeParse(input ?? {})
  if (!parsed.success) throw new EmulatorConfigError(`Invalid ${source}:\n${issuesOf(parsed.error, source)}`)
  const o = parsed.data
  const tenants: Tenant[] = (o.tenants.length > 0 ? o.tenants : [{}]).map((t, i) => ({
    id: (t.id ?? randomUUID()).toLowerCase(),
    domain: t.domain ?? (i === 0 ? 'contoso.onmicrosoft.com' : `tenant${i}.onmicrosoft.com`),
  }))
  const problems: string[] = []
  const tenantOf = (ref: string | undefined, where: string): Tenant => {
    if (ref === undefined) return tenants[0] as Tenant
    const t = tenants.find((x) => x.id === ref.toLowerCase() || x.domain === ref)
    if (t === undefined) problems.push(`${where}.tenant: unknown tenant '${ref}'`)
    return t ?? (tenants[0] as Tenant)
  }
  const apps: App[] = o.apps.map((a, i) => ({
    clientId: (a.clientId ?? randomUUID()).toLowerCase(),
    name: a.name ?? `app-${i}`,
    appIdUri: a.appIdUri,
    appRoles: a.appRoles,
    scopes: a.scopes,
    accessTokenAcceptedVersion: a.accessTokenAcceptedVersion ?? 1,
    secrets: a.secrets,
    appRoleAssignments: a.appRoleAssignments.map((x) => ({ ...x, app: x.app.toLowerCase() })),
    customSigningKey: a.customSigningKey,
    tenant: tenantOf(a.tenant, `apps[${i}]`),
  }))
  const identities: Identity[] = o.identities.map((m, i) => {
    const name = m.name ?? `identity-${i}`
    const tenant = tenantOf(m.tenant, `identities[${i}]`)
    const resourceId =
      m.resourceId ??
      (m.kind === 'system'
        ? `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.Compute/virtualMachines/${slug(name)}`
        : `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${slug(name)}`)
    return {
      name,
      clientId: (m.clientId ?? randomUUID()).toLowerCase(),
      objectId: (m.objectId ?? randomUUID()).toLowerCase(),
      resourceId,
      kind: m.kind,
      appRoleAssignments: m.appRoleAssignments.map((x) => ({ ...x, app: x.app.toLowerCase() })),
      tenant,
    }
  })
  const users: User[] = o.users.map((u, i) => {
    const tenant = tenantOf(u.tenant, `users[${i}]`)
    return {
      objectId: (u.objectId ?? randomUUID()).toLowerCase(),
      name: u.name ?? `User ${i}`,
      username: u.username ?? `user${i}@${tenant.domain}`,
      tenant,
    }
  })
  const check = (list: { app: string; role: string }[], where: string) =>
    list.forEach((x, j) => {
      const target = apps.find((a) => a.clientId === x.app || a.appIdUri === x.app)
      if (target === undefined)
        problems.push(`${where}.appRoleAssignments[${j}].app: no app with client ID or App ID URI '${x.app}'`)
      else {
        x.app = target.clientId
        if (!target.appRoles.includes(x.role)) {
          problems.push(
            `${where}.appRoleAssignments[${j}].role: app ${target.name} defines no app role '${x.role}' (it has: ${target.appRoles.join(', ') || 'none'})`,
          )
        }
      }
    })
  apps.forEach((a, i) => check(a.appRoleAssignments, `apps[${i}]`))
  identities.forEach((m, i) => check(m.appRoleAssignments, `identities[${i}]`))
  const names = new Set<string>()
  identities.forEach((m, i) => {
    if (names.has(m.name)) problems.push(`identities[${i}].name: '${m.name}' is used twice`)
    names.add(m.name)
  })
  if (problems.length > 0)
    throw new EmulatorConfigError(`Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  return {
    port: o.port,
    host: o.host,
    https: o.https,
    tokenLifetime: o.tokenLifetime,
    keyGracePeriod: o.keyGracePeriod,
    tenants,
    apps,
    identities,
    users,
  }
}
