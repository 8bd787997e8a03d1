import {
  type App,
  type AppOptions,
  type EmulatorConfig,
  type Identity,
  type IdentityOptions,
  resolveApp,
  resolveIdentity,
  type Tenant,
} from './config.js'
import { createSigningKey, type SigningKey } from './keys.js'
import { claimsFor, headerFor, newObjectId, rolesOn, signJwt, type TokenSubject } from './tokens.js'

/** The emulated directory: tenants, apps, identities, signing keys, and token issuance over them. */
export interface Directory {
  readonly config: EmulatorConfig
  readonly appKeys: ReadonlyMap<string, SigningKey>
  /** A tenant by ID or domain; 'multi' for common/organizations. */
  findTenant(segment: string): Tenant | 'multi' | undefined
  /** The app a resource or scope names: exact App ID URI or client ID (the resource string is kept as sent). */
  findApp(resource: string): App | undefined
  /** A managed identity by name, client ID, object ID or resource ID. */
  findIdentity(ref: string): Identity | undefined
  /** The key that signs tokens for this target: its custom signing key, or the current tenant key. */
  keyFor(target: App | undefined): SigningKey
  /** The keys published now. */
  published(): SigningKey[]
  /** Publishes a new signing key; old ones stay published for keyGracePeriod. Returns the new kid. */
  rotate(): string
  lifetimeFor(kind: 'mi' | 'other'): number
  issue(subject: TokenSubject, target: App | undefined): string
  miToken(identity: Identity, target: App, resource: string): { token: string; exp: number; nbf: number }
  /** The stable object ID of an app's service principal. */
  servicePrincipalId(app: App): string
  /** A principal that can hold app roles: a managed identity (name, client, object or resource ID) or an app (name or client ID). */
  findPrincipal(ref: string): Identity | App | undefined
  /** Gives a principal an app role; throws, naming the value, for an unknown principal, app or role. */
  assignAppRole(assignment: AppRoleAssignment): void
  /** Takes an app role away; throws for an unknown principal, app or role, or an assignment that does not exist. */
  removeAppRoleAssignment(assignment: AppRoleAssignment): void
  addApp(options: AppOptions): App
  /** Removes an app registration and every assignment of its roles. */
  removeApp(ref: string): App
  addIdentity(options: IdentityOptions): Identity
  removeIdentity(ref: string): Identity
}

/** An app-role assignment to make or remove at run time. */
export interface AppRoleAssignment {
  /** A managed identity (name, client ID, object ID) or a client app registration (name or client ID). */
  principal: string
  /** The API's client ID, App ID URI or name; may be left out when exactly one app defines `role`. */
  app?: string
  role: string
}

export function createDirectory(config: EmulatorConfig): Directory {
  const keys: SigningKey[] = [createSigningKey()]
  const appKeys = new Map<string, SigningKey>()
  for (const app of config.apps) if (app.customSigningKey) appKeys.set(app.clientId, createSigningKey())

  const published = () => keys.filter((k) => k.retireAt > Date.now())
  const signingKey = () => keys[keys.length - 1] as SigningKey
  const lifetimeFor = (kind: 'mi' | 'other') => config.tokenLifetime ?? (kind === 'mi' ? 86_700 : 3_600)

  function findTenant(segment: string): Tenant | 'multi' | undefined {
    if (segment === 'common' || segment === 'organizations') return 'multi'
    return config.tenants.find(
      (t) => t.id === segment.toLowerCase() || t.domain.toLowerCase() === segment.toLowerCase(),
    )
  }

  /** The app a resource or scope names: exact App ID URI or client ID (the resource string is kept as sent). */
  function findApp(resource: string): App | undefined {
    const bare = resource.replace(/\/\.default$/, '')
    return config.apps.find(
      (a) =>
        a.appIdUri === bare ||
        a.clientId === bare.toLowerCase() ||
        (a.appIdUri !== undefined && `${a.appIdUri}/` === bare),
    )
  }

  function findIdentity(ref: string): Identity | undefined {
    const r = ref.toLowerCase()
    return config.identities.find(
      (m) => m.name === ref || m.clientId === r || m.objectId === r || m.resourceId.toLowerCase() === r,
    )
  }

  function keyFor(target: App | undefined): SigningKey {
    return (target !== undefined ? appKeys.get(target.clientId) : undefined) ?? signingKey()
  }

  function issue(subject: TokenSubject, target: App | undefined): string {
    const key = keyFor(target)
    return signJwt(claimsFor(subject, Date.now() / 1000), key, headerFor(subject.version, key))
  }

  function miToken(
    identity: Identity,
    target: App,
    resource: string,
  ): { token: string; exp: number; nbf: number } {
    const lifetime = lifetimeFor('mi')
    const token = issue(
      {
        tenant: identity.tenant,
        version: target.accessTokenAcceptedVersion,
        resource,
        targetClientId: target.clientId,
        kind: 'app',
        clientId: identity.clientId,
        clientAuth: '2',
        objectId: identity.objectId,
        roles: rolesOn(target, identity.appRoleAssignments),
        scopes: [],
        identity,
        lifetime,
      },
      target,
    )
    const now = Math.floor(Date.now() / 1000)
    return { token, exp: now + lifetime, nbf: now }
  }

  const spIds = new Map<string, string>()
  function servicePrincipalId(app: App): string {
    let id = spIds.get(app.clientId)
    if (id === undefined) {
      id = newObjectId()
      spIds.set(app.clientId, id)
    }
    return id
  }

  function findAppRef(ref: string): App | undefined {
    return config.apps.find((a) => a.clientId === ref.toLowerCase() || a.appIdUri === ref || a.name === ref)
  }

  function findPrincipal(ref: string): Identity | App | undefined {
    return findIdentity(ref) ?? config.apps.find((a) => a.clientId === ref.toLowerCase() || a.name === ref)
  }

  /** Resolves an assignment's three names, or throws naming the one that is wrong. */
  function resolveAssignment(what: string, a: AppRoleAssignment): { principal: Identity | App; target: App } {
    const principal = findPrincipal(a.principal)
    if (principal === undefined)
      throw new Error(`${what}: no managed identity or app registration '${a.principal}'`)
    let target: App | undefined
    if (a.app === undefined) {
      const defining = config.apps.filter((x) => x.appRoles.includes(a.role))
      if (defining.length !== 1)
        throw new Error(
          defining.length === 0
            ? `${what}: no app defines the app role '${a.role}'`
            : `${what}: the app role '${a.role}' is defined by ${defining.map((x) => x.name).join(', ')}: name the app`,
        )
      target = defining[0]
    } else target = findAppRef(a.app)
    if (target === undefined) throw new Error(`${what}: no app with client ID, App ID URI or name '${a.app}'`)
    if (!target.appRoles.includes(a.role))
      throw new Error(
        `${what}: app ${target.name} defines no app role '${a.role}' (it has: ${target.appRoles.join(', ') || 'none'})`,
      )
    return { principal, target }
  }

  function removeById<T>(list: T[], item: T): void {
    const i = list.indexOf(item)
    if (i >= 0) list.splice(i, 1)
  }

  return {
    config,
    appKeys,
    findTenant,
    findApp,
    findIdentity,
    keyFor,
    published,
    rotate() {
      const now = Date.now()
      for (const k of keys)
        if (k.retireAt === Number.POSITIVE_INFINITY) k.retireAt = now + config.keyGracePeriod
      const key = createSigningKey()
      keys.push(key)
      while (keys.length > 1 && (keys[0] as SigningKey).retireAt <= now) keys.shift()
      return key.kid
    },
    lifetimeFor,
    issue,
    miToken,
    servicePrincipalId,
    findPrincipal,
    assignAppRole(a) {
      const { principal, target } = resolveAssignment('assignAppRole', a)
      const list = principal.appRoleAssignments
      if (!list.some((x) => x.app === target.clientId && x.role === a.role))
        list.push({ app: target.clientId, role: a.role })
    },
    removeAppRoleAssignment(a) {
      const { principal, target } = resolveAssignment('removeAppRoleAssignment', a)
      const list = principal.appRoleAssignments
      const i = list.findIndex((x) => x.app === target.clientId && x.role === a.role)
      if (i < 0)
        throw new Error(
          `removeAppRoleAssignment: ${principal.name} holds no app role '${a.role}' on ${target.name}`,
        )
      list.splice(i, 1)
    },
    addApp(options) {
      const app = resolveApp(config, options)
      config.apps.push(app)
      if (app.customSigningKey) appKeys.set(app.clientId, createSigningKey())
      return app
    },
    removeApp(ref) {
      const app = findAppRef(ref)
      if (app === undefined) throw new Error(`removeApp: no app with client ID, App ID URI or name '${ref}'`)
      removeById(config.apps, app)
      appKeys.delete(app.clientId)
      for (const p of [...config.apps, ...config.identities]) {
        p.appRoleAssignments = p.appRoleAssignments.filter((x) => x.app !== app.clientId)
      }
      return app
    },
    addIdentity(options) {
      const identity = resolveIdentity(config, options)
      config.identities.push(identity)
      return identity
    },
    removeIdentity(ref) {
      const identity = findIdentity(ref)
      if (identity === undefined) throw new Error(`removeIdentity: no managed identity '${ref}'`)
      removeById(config.identities, identity)
      return identity
    },
  }
}
