import type { JWTPayload } from 'jose'
import { AuthError } from './errors.js'

/** Whether the caller is an application (managed identity, daemon) or a user through an application. */
export type IdentityType = 'app' | 'user'

/**
 * Who called: the validated token turned into plain, frozen data. Safe to log: it never holds the token.
 *
 * @example
 * const p = await validator.validate(req.headers.authorization)
 * if (p.identityType === 'app') console.log(p.clientId, p.roles, p.managedIdentityResourceId)
 */
export interface Principal {
  readonly tokenVersion: 1 | 2
  /** `tid` */
  readonly tenantId: string
  /** `oid`: the user's or service principal's object ID, stable across apps. Authorize on this with tenantId. */
  readonly objectId?: string
  /** `sub` (pairwise per app; equals oid for app-only tokens) */
  readonly subject?: string
  /** The calling application: `azp` (v2) or `appid` (v1). For a managed identity, its client ID. */
  readonly clientId: string
  /** How the client authenticated: `azpacr` / `appidacr` ('0' public, '1' secret, '2' certificate). */
  readonly clientAuthMethod?: string
  readonly identityType: IdentityType
  /** App roles (`roles`). */
  readonly roles: readonly string[]
  /** Delegated scopes (`scp`, split on spaces). */
  readonly scopes: readonly string[]
  /** Group object IDs (`groups`). */
  readonly groups: readonly string[]
  /** `xms_mirid`: the Azure resource ID of a managed identity. */
  readonly managedIdentityResourceId?: string
  /** Display name; never authorize on it. */
  readonly name?: string
  /** `preferred_username` / `upn` / `unique_name`; display only, never authorize on it. */
  readonly username?: string
  readonly expiresAt: Date
  /** Every claim, null-prototype and frozen (made on first read; the same object on every read). */
  readonly claims: Readonly<JWTPayload>
}

function malformed(detail: string): AuthError {
  return new AuthError('malformed_token', { description: 'The token is malformed', detail })
}

function optionalString(claims: Record<string, unknown>, name: string): string | undefined {
  const value = claims[name]
  if (value === undefined) return undefined
  if (typeof value !== 'string') throw malformed(`The ${name} claim must be a string`)
  return value
}

// The empty roles / scopes / groups of every principal that has none: frozen, so one instance serves all.
const NONE: readonly string[] = Object.freeze([])

function stringArray(claims: Record<string, unknown>, name: string): string[] {
  const value = claims[name]
  if (value === undefined) return NONE as string[]
  if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) {
    throw malformed(`The ${name} claim must be an array of strings`)
  }
  return [...value]
}

/** The typed pieces of the claims that checks and the principal need; throws on wrongly typed claims. */
export interface ClaimFacts {
  clientId: string | undefined
  clientAuthMethod: string | undefined
  roles: string[]
  scopes: string[]
  groups: string[]
  identityType: IdentityType
  /** Whether `scp` or `roles` holds anything. */
  hasScopesOrRoles: boolean
}

/** Reads and type-checks the authorization claims (`scp` a string, `roles` an array of strings). */
export function readClaimFacts(claims: Record<string, unknown>, version: 1 | 2): ClaimFacts {
  const scp = optionalString(claims, 'scp')
  const scopes = scp === undefined ? (NONE as string[]) : scp.split(' ').filter((s) => s !== '')
  const roles = stringArray(claims, 'roles')
  const groups = stringArray(claims, 'groups')
  const clientId = version === 2 ? optionalString(claims, 'azp') : optionalString(claims, 'appid')
  const clientAuthMethod =
    version === 2 ? optionalString(claims, 'azpacr') : optionalString(claims, 'appidacr')
  const idtyp = optionalString(claims, 'idtyp')
  // idtyp is the reliable signal when the API enabled it; otherwise a token without scp is app-only.
  const identityType: IdentityType =
    idtyp === 'app' ? 'app' : idtyp === 'user' ? 'user' : scp === undefined ? 'app' : 'user'
  return {
    clientId,
    clientAuthMethod,
    roles,
    scopes,
    groups,
    identityType,
    hasScopesOrRoles: scopes.length > 0 || roles.length > 0,
  }
}

/** Builds the frozen {@link Principal}. */
export function toPrincipal(
  claims: Record<string, unknown>,
  facts: ClaimFacts,
  version: 1 | 2,
  tenantId: string,
  exp: number,
): Principal {
  const principal: Record<string, unknown> = {
    tokenVersion: version,
    tenantId,
    clientId: facts.clientId ?? '',
    identityType: facts.identityType,
    roles: Object.freeze(facts.roles),
    scopes: Object.freeze(facts.scopes),
    groups: Object.freeze(facts.groups),
    expiresAt: new Date(exp * 1000),
  }
  // Frozen on first read: freezing a null-prototype object gives it a hidden class of its own (~1 µs), which a
  // principal whose claims nobody reads need not pay.
  Object.defineProperty(principal, 'claims', LAZY_CLAIMS)
  HELD_CLAIMS.set(principal, claims)
  if (typeof claims.oid === 'string') principal.objectId = claims.oid
  if (typeof claims.sub === 'string') principal.subject = claims.sub
  if (facts.clientAuthMethod !== undefined) principal.clientAuthMethod = facts.clientAuthMethod
  if (typeof claims.xms_mirid === 'string') principal.managedIdentityResourceId = claims.xms_mirid
  if (typeof claims.name === 'string') principal.name = claims.name
  const username = claims.preferred_username ?? claims.upn ?? claims.unique_name
  if (typeof username === 'string') principal.username = username
  return Object.freeze(principal) as unknown as Principal
}

// Claims that differ in every token: not worth remembering in a sharing table.
const UNIQUE_CLAIMS = new Set(['aio', 'uti', 'rh', 'jti', 'nonce', 'iat', 'nbf', 'exp'])

// Each principal's claims, behind the `claims` getter: V8 gives every frozen null-prototype object a hidden
// class of its own (~1 µs to make, ~500 B to keep), so the frozen null-prototype object that `claims` returns
// is made on first read and kept here. Until then a fresh principal holds the decoded payload (null-prototype,
// not yet frozen, referenced from nowhere else), and a cached one a frozen object of an ordinary shape that V8
// shares between entries.
const HELD_CLAIMS = new WeakMap<object, Record<string, unknown>>()

function define(target: Record<string, unknown>, name: string, value: unknown): void {
  // Assigning "__proto__" would set the prototype: a signed member of that name stays a plain own claim.
  if (name === '__proto__') {
    Object.defineProperty(target, name, { value, enumerable: true, writable: true, configurable: true })
  } else target[name] = value
}

const CACHED_EXPIRY = new WeakMap<object, Date>()

/** One getter for every cached principal (a JS Date is ~100 B: made on first read, then the same object). */
const LAZY_EXPIRY: PropertyDescriptor = {
  enumerable: true,
  configurable: false,
  get(this: object): Date | undefined {
    let date = CACHED_EXPIRY.get(this)
    const exp = HELD_CLAIMS.get(this)?.exp
    if (date === undefined && typeof exp === 'number') {
      date = new Date(exp * 1000)
      CACHED_EXPIRY.set(this, date)
    }
    return date
  },
}

/** One getter for every cached principal, so that they share one hidden class. */
const LAZY_CLAIMS: PropertyDescriptor = {
  enumerable: true,
  configurable: false,
  get(this: object): Readonly<JWTPayload> | undefined {
    const held = HELD_CLAIMS.get(this)
    if (held === undefined) return undefined
    if (Object.getPrototypeOf(held) === null) return Object.isFrozen(held) ? held : Object.freeze(held)
    const claims: Record<string, unknown> = {}
    for (const name of Object.keys(held)) define(claims, name, held[name])
    const frozen = Object.freeze(Object.setPrototypeOf(claims, null))
    HELD_CLAIMS.set(this, frozen)
    return frozen
  },
}

/**
 * The same principal, rebuilt for a long stay in the validated-token cache: string values that repeat from
 * token to token (issuer, audience, tenant, the caller's IDs, role names) are taken from `share`, so that
 * 10,000 cached tokens of one managed identity hold those strings once rather than 10,000 times; so do the
 * frozen roles / scopes / groups lists (`shareList`). `claims` and `expiresAt` are made on first read (getters;
 * the same object on every read). Keys, key order, values and frozenness are those of the original; nested
 * claim arrays stay unshared copies.
 *
 * @example
 * const share = (s: string) => table.get(s) ?? (table.set(s, s), s)
 * cache.set(key, compactPrincipal(principal, share, (list) => list))
 */
export function compactPrincipal(
  principal: Principal,
  share: (value: string) => string,
  shareList: (list: readonly string[]) => readonly string[],
): Principal {
  const source = (HELD_CLAIMS.get(principal) ?? principal.claims) as Record<string, unknown>
  const held: Record<string, unknown> = {}
  for (const name of Object.keys(source)) {
    const value = source[name]
    define(
      held,
      name,
      typeof value === 'string'
        ? UNIQUE_CLAIMS.has(name)
          ? value
          : share(value)
        : Array.isArray(value)
          ? value.map((v) => (typeof v === 'string' ? share(v) : v))
          : value,
    )
  }
  const rebuilt: Record<string, unknown> = {}
  for (const name of Object.keys(principal)) {
    // Not read through the getter: that would freeze the fresh principal's claims for nothing.
    const value = name === 'claims' ? undefined : (principal as unknown as Record<string, unknown>)[name]
    if (name === 'claims') Object.defineProperty(rebuilt, name, LAZY_CLAIMS)
    else if (name === 'expiresAt' && held.exp === (value as Date).getTime() / 1000)
      Object.defineProperty(rebuilt, name, LAZY_EXPIRY)
    else
      rebuilt[name] =
        typeof value === 'string'
          ? share(value)
          : Array.isArray(value)
            ? value.length === 0
              ? NONE
              : shareList(value)
            : value
  }
  HELD_CLAIMS.set(rebuilt, Object.freeze(held))
  return Object.freeze(rebuilt) as unknown as Principal
}
