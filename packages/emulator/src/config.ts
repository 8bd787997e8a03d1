import { randomUUID } from 'node:crypto'
import { z } from 'zod'

const guid = (what: string) =>
  z
    .string()
    .regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i, `${what} must be a GUID`)

const assignment = z.object({ app: z.string().min(1), role: z.string().min(1) }).strict()

/** The audience Entra expects in a federated assertion. */
export const TOKEN_EXCHANGE_AUDIENCE = 'api://AzureADTokenExchange'

const federatedCredential = z
  .object({
    name: z.string().min(1).optional(),
    /** A configured cluster's name: its service-account token issuer is the credential's issuer. */
    cluster: z.string().min(1),
    /** `system:serviceaccount:<namespace>:<service account>`, compared exactly (case-sensitive), as Entra does. */
    subject: z.string().min(1),
    audiences: z.array(z.string().min(1)).min(1).default([TOKEN_EXCHANGE_AUDIENCE]),
  })
  .strict()

const appSchema = z
  .object({
    clientId: guid('apps[].clientId').optional(),
    name: z.string().optional(),
    appIdUri: z.string().min(1).optional(),
    appRoles: z.array(z.string().min(1)).default([]),
    scopes: z.array(z.string().min(1)).default([]),
    accessTokenAcceptedVersion: z.union([z.literal(1), z.literal(2), z.null()]).default(null),
    secrets: z.array(z.string().min(1)).default([]),
    appRoleAssignments: z.array(assignment).default([]),
    federatedCredentials: z.array(federatedCredential).default([]),
    customSigningKey: z.boolean().default(false),
    tenant: z.string().optional(),
  })
  .strict()

const identitySchema = z
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
    federatedCredentials: z.array(federatedCredential).default([]),
    tenant: z.string().optional(),
  })
  .strict()

const seconds = z.number().int().positive()

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
    apps: z.array(appSchema).default([]),
    identities: z.array(identitySchema).default([]),
    /** Kubernetes clusters whose service-account tokens the emulator issues (AKS workload identity). */
    clusters: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(
                /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/,
                'clusters[].name must be a DNS label (a-z, 0-9, -)',
              ),
          })
          .strict(),
      )
      .default([]),
    /**
     * IMDS's own token cache: the same token for an identity and resource until `lifetime` seconds after
     * it was issued or `refreshMargin` seconds before it expires, whichever comes first. `false` turns it off.
     */
    imdsTokenCache: z
      .union([
        z.literal(false),
        z
          .object({ lifetime: seconds.optional(), refreshMargin: z.number().int().min(0).default(300) })
          .strict(),
      ])
      .default({ refreshMargin: 300 }),
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
/** An app registration to add with `emu.addApp(...)`: the shape of one `apps[]` entry. */
export type AppOptions = z.input<typeof appSchema>
/** A managed identity to add with `emu.addIdentity(...)`: the shape of one `identities[]` entry. */
export type IdentityOptions = z.input<typeof identitySchema>

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
  federatedCredentials: FederatedCredential[]
  customSigningKey: boolean
  tenant: Tenant
}
/** A federated identity credential: Entra trusts this cluster's tokens for this subject and audience. */
export interface FederatedCredential {
  name: string
  cluster: string
  subject: string
  audiences: string[]
}
/** A Kubernetes cluster whose service-account token issuer the emulator plays. */
export interface Cluster {
  name: string
}
/** IMDS's token cache: seconds a token is reused at most, and seconds before its expiry that it is renewed. */
export interface TokenCacheSettings {
  lifetime: number | undefined
  refreshMargin: number
}
/** A managed identity (system- or user-assigned) and its app-role assignments. */
export interface Identity {
  name: string
  clientId: string
  objectId: string
  resourceId: string
  kind: 'system' | 'user'
  appRoleAssignments: { app: string; role: string }[]
  federatedCredentials: FederatedCredential[]
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
  clusters: Cluster[]
  imdsTokenCache: TokenCacheSettings | false
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

/** What resolving one entry needs: the tenants, the apps and clusters to check references against, and where to report. */
interface Context {
  tenants: Tenant[]
  apps: App[]
  clusters: Cluster[]
  problems: string[]
}

function tenantOf(ctx: Context, ref: string | undefined, where: string): Tenant {
  if (ref === undefined) return ctx.tenants[0] as Tenant
  const t = ctx.tenants.find((x) => x.id === ref.toLowerCase() || x.domain === ref)
  if (t === undefined) ctx.problems.push(`${where}.tenant: unknown tenant '${ref}'`)
  return t ?? (ctx.tenants[0] as Tenant)
}

function credentialsOf(
  ctx: Context,
  list: z.output<typeof federatedCredential>[],
  where: string,
): FederatedCredential[] {
  return list.map((c, j) => {
    if (!ctx.clusters.some((k) => k.name === c.cluster))
      ctx.problems.push(
        `${where}.federatedCredentials[${j}].cluster: no cluster '${c.cluster}' (add it to clusters: [{ name: '${c.cluster}' }])`,
      )
    return {
      name: c.name ?? `${c.cluster}-${slug(c.subject)}`,
      cluster: c.cluster,
      subject: c.subject,
      audiences: c.audiences,
    }
  })
}

/** Points each assignment at its target app's client ID, reporting unknown apps and roles. */
function checkAssignments(ctx: Context, list: { app: string; role: string }[], where: string): void {
  list.forEach((x, j) => {
    const target = ctx.apps.find((a) => a.clientId === x.app.toLowerCase() || a.appIdUri === x.app)
    if (target === undefined)
      ctx.problems.push(
        `${where}.appRoleAssignments[${j}].app: no app with client ID or App ID URI '${x.app}'`,
      )
    else {
      x.app = target.clientId
      if (!target.appRoles.includes(x.role)) {
        ctx.problems.push(
          `${where}.appRoleAssignments[${j}].role: app ${target.name} defines no app role '${x.role}' (it has: ${target.appRoles.join(', ') || 'none'})`,
        )
      }
    }
  })
}

function appOf(ctx: Context, a: z.output<typeof appSchema>, i: number, where: string): App {
  return {
    clientId: (a.clientId ?? randomUUID()).toLowerCase(),
    name: a.name ?? `app-${i}`,
    appIdUri: a.appIdUri,
    appRoles: a.appRoles,
    scopes: a.scopes,
    accessTokenAcceptedVersion: a.accessTokenAcceptedVersion ?? 1,
    secrets: a.secrets,
    appRoleAssignments: a.appRoleAssignments.map((x) => ({ ...x })),
    federatedCredentials: credentialsOf(ctx, a.federatedCredentials, where),
    customSigningKey: a.customSigningKey,
    tenant: tenantOf(ctx, a.tenant, where),
  }
}

function identityOf(ctx: Context, m: z.output<typeof identitySchema>, i: number, where: string): Identity {
  const name = m.name ?? `identity-${i}`
  const resourceId =
    m.resourceId ??
    (m.kind === 'system'
      ? `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.Compute/virtualMachines/${slug(name)}`
      : `/subscriptions/00000000-0000-0000-0000-000000000000/resourcegroups/emulator/providers/Microsoft.ManagedIdentity/userAssignedIdentities/${slug(name)}`)
  // Entra takes federated credentials on user-assigned identities only.
  if (m.kind === 'system' && m.federatedCredentials.length > 0)
    ctx.problems.push(
      `${where}.federatedCredentials: only user-assigned identities (kind: 'user') can have them`,
    )
  const identity: Identity = {
    name,
    clientId: (m.clientId ?? randomUUID()).toLowerCase(),
    objectId: (m.objectId ?? randomUUID()).toLowerCase(),
    resourceId,
    kind: m.kind,
    appRoleAssignments: m.appRoleAssignments.map((x) => ({ ...x })),
    federatedCredentials: credentialsOf(ctx, m.federatedCredentials, where),
    tenant: tenantOf(ctx, m.tenant, where),
  }
  checkAssignments(ctx, identity.appRoleAssignments, where)
  return identity
}

function fail(source: string, problems: string[]): never {
  throw new EmulatorConfigError(`Invalid ${source}:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
}

/** Validates the options and fills every default; throws {@link EmulatorConfigError}. */
export function resolveConfig(input: unknown, source = 'emulator options'): EmulatorConfig {
  const parsed = schema.safeParse(input ?? {})
  if (!parsed.success) throw new EmulatorConfigError(`Invalid ${source}:\n${issuesOf(parsed.error, source)}`)
  const o = parsed.data
  const tenants: Tenant[] = (o.tenants.length > 0 ? o.tenants : [{}]).map((t, i) => ({
    id: (t.id ?? randomUUID()).toLowerCase(),
    domain: t.domain ?? (i === 0 ? 'contoso.onmicrosoft.com' : `tenant${i}.onmicrosoft.com`),
  }))
  const ctx: Context = { tenants, apps: [], clusters: o.clusters, problems: [] }
  ctx.apps = o.apps.map((a, i) => appOf(ctx, a, i, `apps[${i}]`))
  ctx.apps.forEach((a, i) => checkAssignments(ctx, a.appRoleAssignments, `apps[${i}]`))
  const identities = o.identities.map((m, i) => identityOf(ctx, m, i, `identities[${i}]`))
  const users: User[] = o.users.map((u, i) => {
    const tenant = tenantOf(ctx, u.tenant, `users[${i}]`)
    return {
      objectId: (u.objectId ?? randomUUID()).toLowerCase(),
      name: u.name ?? `User ${i}`,
      username: u.username ?? `user${i}@${tenant.domain}`,
      tenant,
    }
  })
  const names = new Set<string>()
  identities.forEach((m, i) => {
    if (names.has(m.name)) ctx.problems.push(`identities[${i}].name: '${m.name}' is used twice`)
    names.add(m.name)
  })
  if (new Set(o.clusters.map((c) => c.name)).size !== o.clusters.length)
    ctx.problems.push('clusters: a cluster name is used twice')
  if (ctx.problems.length > 0) fail(source, ctx.problems)
  return {
    port: o.port,
    host: o.host,
    https: o.https,
    tokenLifetime: o.tokenLifetime,
    keyGracePeriod: o.keyGracePeriod,
    tenants,
    apps: ctx.apps,
    identities,
    users,
    clusters: o.clusters,
    imdsTokenCache:
      o.imdsTokenCache === false
        ? false
        : { lifetime: o.imdsTokenCache.lifetime, refreshMargin: o.imdsTokenCache.refreshMargin },
  }
}

/** Validates one more app against a resolved configuration (for `emu.addApp`); throws {@link EmulatorConfigError}. */
export function resolveApp(config: EmulatorConfig, input: AppOptions): App {
  const parsed = appSchema.safeParse(input)
  if (!parsed.success) throw new EmulatorConfigError(`Invalid app:\n${issuesOf(parsed.error, 'app')}`)
  const ctx: Context = { tenants: config.tenants, apps: config.apps, clusters: config.clusters, problems: [] }
  const app = appOf(ctx, parsed.data, config.apps.length, 'app')
  checkAssignments({ ...ctx, apps: [...config.apps, app] }, app.appRoleAssignments, 'app')
  if (config.apps.some((a) => a.clientId === app.clientId))
    ctx.problems.push(`app.clientId: '${app.clientId}' is used already`)
  if (app.appIdUri !== undefined && config.apps.some((a) => a.appIdUri === app.appIdUri))
    ctx.problems.push(`app.appIdUri: '${app.appIdUri}' is used already`)
  if (ctx.problems.length > 0) fail('app', ctx.problems)
  return app
}

/** Validates one more managed identity against a resolved configuration (for `emu.addIdentity`). */
export function resolveIdentity(config: EmulatorConfig, input: IdentityOptions): Identity {
  const parsed = identitySchema.safeParse(input)
  if (!parsed.success)
    throw new EmulatorConfigError(`Invalid identity:\n${issuesOf(parsed.error, 'identity')}`)
  const ctx: Context = { tenants: config.tenants, apps: config.apps, clusters: config.clusters, problems: [] }
  const identity = identityOf(ctx, parsed.data, config.identities.length, 'identity')
  const clash = config.identities.find(
    (m) => m.name === identity.name || m.clientId === identity.clientId || m.objectId === identity.objectId,
  )
  if (clash !== undefined)
    ctx.problems.push(`identity: name, client ID or object ID of '${clash.name}' used already`)
  if (ctx.problems.length > 0) fail('identity', ctx.problems)
  return identity
}
