import { verify as verifySignature } from 'node:crypto'
import { checkAudience, graphTokenError, shown } from './audience.js'
import { extractBearerToken } from './bearer.js'
import { AuthError, isAuthError } from './errors.js'
import { type AuthEvent, safeEmit } from './events.js'
import {
  issuerMatches,
  issuerVersion,
  isTenantId,
  metadataUrl,
  type TenantMode,
  tenantOfIssuer,
} from './issuer.js'
import { CLOUD_AUTHORITIES, GUID, parseValidatorOptions, type ValidatorOptions } from './options.js'
import { type Principal, readClaimFacts, toPrincipal } from './principal.js'
import { TokenCache } from './token-cache.js'
import { decodeToken } from './token-format.js'
import { TrustSource } from './trust-source.js'

/**
 * Validates Entra ID access tokens. Create one per API (it holds the key and token caches) with
 * {@link createValidator}.
 */
export interface Validator {
  /**
   * Validates an `Authorization` header value or a bare token. Resolves to the {@link Principal}; rejects
   * with an {@link AuthError} (401, 400, 403 or 503), never with anything else for bad input.
   */
  validate(tokenOrAuthorizationHeader: string | undefined): Promise<Principal>
  /** Fetches the metadata and keys now, so the first request does not wait. Rejects with `metadata_unavailable`. */
  warm(): Promise<void>
  /** Sends an event to `onEvent` (adapters use it for `access.*` events); `at` defaults to now. */
  emit(event: Omit<AuthEvent, 'at'> & { at?: Date }): void
  /** Stops the background key refresh timers. The validator keeps working, on demand only. */
  close(): void
  /** How many metadata + key-set refreshes were attempted, per token version; for diagnostics. */
  readonly stats: { readonly refreshes: number; readonly cachedTokens: number }
}

function rejected(
  code: 'malformed_token' | 'invalid_issuer' | 'unsupported_algorithm',
  description: string,
  detail: string,
) {
  return new AuthError(code, { description, detail })
}

function numericClaim(payload: Record<string, unknown>, name: string, required: boolean): number | undefined {
  const value = payload[name]
  if (value === undefined && !required) return undefined
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw rejected(
      'malformed_token',
      'The token is malformed',
      `The ${name} claim must be a finite number of seconds; it is ${value === undefined ? 'missing' : shown(value)}`,
    )
  }
  return value
}

/**
 * Creates a validator for Microsoft Entra ID access tokens. Options are checked now; a wrong one throws a
 * {@link ConfigurationError} that names it.
 *
 * @example
 * const validator = createValidator({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' })
 * const principal = await validator.validate(req.headers.authorization)
 */
export function createValidator(options: ValidatorOptions): Validator {
  const o = parseValidatorOptions(options)
  const now = o.now ?? Date.now
  const authority = o.authority ?? CLOUD_AUTHORITIES[o.cloud]
  const mode: TenantMode =
    o.tenant === 'organizations' || o.tenant === 'common'
      ? { kind: 'multi', tenant: o.tenant }
      : { kind: 'single', tenant: GUID.test(o.tenant) ? o.tenant.toLowerCase() : o.tenant }
  const audiences: ReadonlySet<string> = new Set(typeof o.audience === 'string' ? [o.audience] : o.audience)
  const allowedTenants =
    o.allowedTenants === 'any' || o.allowedTenants === undefined
      ? undefined
      : new Set(o.allowedTenants.map((t) => t.toLowerCase()))
  const allowedClientIds = o.allowedClientIds === undefined ? undefined : new Set(o.allowedClientIds)
  const tolerance = o.clockTolerance
  const appId = o.customSigningKeys ? (o.clientId ?? [...audiences].find((a) => GUID.test(a))) : undefined
  const fetchFn = o.fetch ?? globalThis.fetch

  const sources = new Map<1 | 2, TrustSource>()
  for (const version of new Set(o.tokenVersions)) {
    sources.set(
      version,
      new TrustSource({
        metadataUrl: metadataUrl(authority, mode, version, appId),
        fetch: fetchFn,
        limits: { timeout: o.jwks.timeout, maxBytes: o.jwks.maxBytes },
        cooldown: o.jwks.cooldown,
        refreshInterval: o.jwks.refreshInterval,
        maxStale: o.jwks.maxStale,
        now,
        onEvent: o.onEvent,
        appId,
        checkIssuer: (issuer) => checkMetadataIssuer(issuer, version),
      }),
    )
  }

  const cache = o.cache === false ? undefined : new TokenCache(o.cache.maxEntries)

  function checkMetadataIssuer(issuer: string, version: 1 | 2): string | undefined {
    if (issuerVersion(issuer) !== version) return `issuer ${issuer} is not a v${version}.0 issuer`
    if (mode.kind === 'multi') {
      return issuer.includes('{tenantid}')
        ? undefined
        : `issuer ${issuer} has no {tenantid} template, so it is not tenant-independent metadata`
    }
    const tid = tenantOfIssuer(issuer)
    if (tid === undefined || issuer.includes('{tenantid}')) return `issuer ${issuer} names no tenant`
    if (GUID.test(mode.tenant) && tid !== mode.tenant)
      return `issuer ${issuer} is of another tenant than ${mode.tenant}`
    return undefined
  }

  async function verify(token: string): Promise<{ principal: Principal; until: number }> {
    const { header, payload, signingInput, signature } = decodeToken(token)

    if (header.alg !== 'RS256') {
      throw rejected(
        'unsupported_algorithm',
        'The token is signed with an unsupported algorithm',
        `alg is ${shown(header.alg)}; Entra ID signs access tokens with RS256 and only RS256 is accepted${header.alg === 'none' ? ' (an unsigned token is never accepted)' : ''}`,
      )
    }
    if (header.crit !== undefined || header.b64 !== undefined) {
      throw rejected(
        'malformed_token',
        'The token is malformed',
        'The token header has crit or b64 parameters, which Entra never sends',
      )
    }
    const kid =
      typeof header.kid === 'string' ? header.kid : typeof header.x5t === 'string' ? header.x5t : undefined
    if (kid === undefined || kid.length > 128 || !/^[A-Za-z0-9_\-+/=.]+$/.test(kid)) {
      throw rejected(
        'malformed_token',
        'The token is malformed',
        'The token header has no usable kid (key ID)',
      )
    }
    const graph = graphTokenError(header, payload.aud, audiences)
    if (graph !== undefined) throw graph

    const { iss, tid } = payload
    if (typeof iss !== 'string')
      throw rejected('malformed_token', 'The token is malformed', 'The token has no iss claim')
    if (!isTenantId(tid)) {
      throw rejected(
        'malformed_token',
        'The token is malformed',
        `The tid claim must be a tenant ID (GUID); it is ${tid === undefined ? 'missing' : shown(tid)}`,
      )
    }
    const tenantId = tid.toLowerCase()
    const version =
      payload.ver === '1.0'
        ? 1
        : payload.ver === '2.0'
          ? 2
          : payload.ver === undefined
            ? issuerVersion(iss)
            : undefined
    if (version === undefined || issuerVersion(iss) !== version) {
      throw rejected(
        'invalid_issuer',
        'The token issuer is invalid',
        `ver ${shown(payload.ver)} does not agree with the issuer form of ${shown(iss)} (v1 issuers are https://sts.windows.net/<tid>/, v2 issuers end in /v2.0)`,
      )
    }
    const source = sources.get(version)
    if (source === undefined) {
      throw rejected(
        'invalid_issuer',
        'The token version is not accepted',
        `The token is a v${version}.0 token and this API accepts v${o.tokenVersions.join(' and v')} tokens only. Either add ${version} to tokenVersions, or set accessTokenAcceptedVersion (api.requestedAccessTokenVersion) to ${o.tokenVersions[0]} in the API's app manifest`,
      )
    }
    if (mode.kind === 'multi') {
      if (allowedTenants !== undefined && !allowedTenants.has(tenantId)) {
        throw new AuthError('tenant_not_allowed', {
          description: 'The token is from a tenant that may not call this API',
          detail: `tid ${tenantId} is not in allowedTenants; add it if that tenant is a customer of this API`,
        })
      }
    } else if (GUID.test(mode.tenant) && tenantId !== mode.tenant) {
      throw rejected(
        'invalid_issuer',
        'The token issuer is invalid',
        `The token is from tenant ${tenantId}; this single-tenant API accepts tenant ${mode.tenant} only`,
      )
    }
    checkAudience(payload.aud, version, audiences)

    const snapshot = source.peek() ?? (await source.current())
    if (mode.kind === 'multi') {
      if (!issuerMatches(snapshot.issuer, tenantId, iss)) {
        throw rejected(
          'invalid_issuer',
          'The token issuer is invalid',
          `iss ${shown(iss)} is not ${snapshot.issuer.replace('{tenantid}', tenantId)} (the metadata issuer with the token's own tid): iss and tid disagree`,
        )
      }
    } else if (iss !== snapshot.issuer || tenantId !== tenantOfIssuer(snapshot.issuer)) {
      throw rejected(
        'invalid_issuer',
        'The token issuer is invalid',
        `iss is ${shown(iss)}; this API trusts ${snapshot.issuer} (tenant ${o.tenant}, v${version}.0)`,
      )
    }

    const key = snapshot.keys.get(kid) ?? (await source.findKey(kid))
    if (key === undefined) {
      const failure = source.lastError
      throw new AuthError('unknown_key', {
        description: 'The token is signed with an unknown key',
        detail: `kid ${kid} is not in ${snapshot.jwksUri}${failure === undefined ? '' : ` (the last refresh failed: ${failure})`}. ${appId === undefined ? 'If the app uses claims mapping or a SAML signing certificate (custom signing keys), set customSigningKeys: true. ' : ''}Tokens signed by another issuer or forged tokens also end here`,
      })
    }
    let valid: boolean
    try {
      valid = verifySignature('RSA-SHA256', signingInput, key.key, signature)
    } catch (cause) {
      throw new AuthError('invalid_signature', {
        description: 'The token signature is invalid',
        detail: 'The signature could not be checked with the key',
        cause,
      })
    }
    if (!valid) {
      throw new AuthError('invalid_signature', {
        description: 'The token signature is invalid',
        detail: `The signature does not verify with key ${kid}: the token was altered or forged`,
      })
    }
    if (key.issuer !== undefined && key.issuer.replace('{tenantid}', tenantId) !== iss) {
      throw rejected(
        'invalid_issuer',
        'The token issuer is invalid',
        `The signing key ${kid} belongs to issuer ${key.issuer}, not to ${shown(iss)} (signing-key issuer validation, as Microsoft.Identity.Web does)`,
      )
    }

    const exp = numericClaim(payload, 'exp', true) as number
    const iat = numericClaim(payload, 'iat', true) as number
    const nbf = numericClaim(payload, 'nbf', false)
    if (exp < iat || (nbf !== undefined && nbf > exp)) {
      throw rejected(
        'malformed_token',
        'The token is malformed',
        'The token expires before it was issued or before it becomes valid',
      )
    }
    const nowS = now() / 1000
    if (nowS > exp + tolerance) {
      throw new AuthError('expired', {
        description: 'The token is expired',
        detail: `The token expired at ${new Date(exp * 1000).toISOString()} (now ${new Date(nowS * 1000).toISOString()}, tolerance ${tolerance} s); the client must get a new one`,
      })
    }
    if ((nbf !== undefined && nowS + tolerance < nbf) || iat > nowS + tolerance) {
      throw new AuthError('not_yet_valid', {
        description: 'The token is not valid yet',
        detail: `The token becomes valid at ${new Date((nbf ?? iat) * 1000).toISOString()}; now is ${new Date(nowS * 1000).toISOString()} (tolerance ${tolerance} s). Check this host's clock`,
      })
    }

    const facts = readClaimFacts(payload, version)
    if (facts.clientId === undefined) {
      throw rejected(
        'malformed_token',
        'The token is malformed',
        `The token has no ${version === 2 ? 'azp' : 'appid'} claim (the calling application)`,
      )
    }
    if (allowedClientIds !== undefined && !allowedClientIds.has(facts.clientId)) {
      throw new AuthError('client_not_allowed', {
        description: 'The calling application may not call this API',
        detail: `Client application ${facts.clientId} is not in allowedClientIds`,
      })
    }
    if (!o.allowedIdentityTypes.includes(facts.identityType)) {
      throw new AuthError('identity_type_not_allowed', {
        description: `Tokens of ${facts.identityType === 'app' ? 'applications' : 'users'} are not accepted`,
        detail: `The token is ${facts.identityType === 'app' ? 'app-only' : 'delegated (a user)'} and allowedIdentityTypes is [${o.allowedIdentityTypes.join(', ')}]`,
      })
    }
    if (!facts.hasScopesOrRoles && !o.allowTokensWithoutScopesOrRoles) {
      throw new AuthError('no_scope_or_role', {
        description: 'The token carries neither scopes nor roles',
        detail: `The token of client ${facts.clientId} has no scp and no roles: Entra issues such tokens to any application of the tenant. Assign an app role to the caller (and turn on "assignment required"), or set allowTokensWithoutScopesOrRoles: true if this API authorizes callers by its own assignments`,
      })
    }
    return {
      principal: toPrincipal(payload, facts, version, tenantId, exp),
      until: (exp + tolerance) * 1000,
    }
  }

  function idsOf(principal: Principal): Partial<AuthEvent> {
    return {
      tenantId: principal.tenantId,
      objectId: principal.objectId,
      clientId: principal.clientId,
      managedIdentityResourceId: principal.managedIdentityResourceId,
    }
  }

  return {
    async validate(input) {
      try {
        const token = extractBearerToken(input)
        const cacheKey = cache === undefined ? '' : cache.key(token)
        const hit = cache?.get(cacheKey, now())
        if (hit !== undefined) {
          if (o.onEvent !== undefined) {
            safeEmit(o.onEvent, { type: 'token.validated', at: new Date(now()), ...idsOf(hit), cached: true })
          }
          return hit
        }
        const { principal, until } = await verify(token)
        cache?.add(cacheKey, principal, until)
        if (o.onEvent !== undefined)
          safeEmit(o.onEvent, {
            type: 'token.validated',
            at: new Date(now()),
            ...idsOf(principal),
            cached: false,
          })
        return principal
      } catch (err) {
        if (isAuthError(err))
          safeEmit(o.onEvent, {
            type: 'token.rejected',
            at: new Date(now()),
            code: err.code,
            reason: err.detail,
          })
        throw err
      }
    },
    async warm() {
      await Promise.all([...sources.values()].map((s) => s.current()))
    },
    emit(event) {
      if (o.onEvent !== undefined) safeEmit(o.onEvent, { ...event, at: event.at ?? new Date(now()) })
    },
    close() {
      for (const source of sources.values()) source.close()
    },
    get stats() {
      let refreshes = 0
      for (const source of sources.values()) refreshes += source.fetchCount
      return { refreshes, cachedTokens: cache?.size ?? 0 }
    },
  }
}
