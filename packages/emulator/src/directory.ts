import type { App, EmulatorConfig, Identity, Tenant } from './config.js'
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
  }
}
