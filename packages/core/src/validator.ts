import { checkAudience, graphTokenError, shown } from './audience.js'
import { extractBearerToken } from './bearer.js'
import {
  type CallerRules,
  checkCaller,
  checkHeader,
  checkKeyIssuer,
  checkLifetime,
  checkSignature,
  readOrigin,
  type TokenOrigin,
} from './checks.js'
import { AuthError, isAuthError } from './errors.js'
import { type AuthEvent, safeEmit } from './events.js'
import { issuerMatches, issuerVersion, metadataUrl, type TenantMode, tenantOfIssuer } from './issuer.js'
import { CLOUD_AUTHORITIES, GUID, parseValidatorOptions, type ValidatorOptions } from './options.js'
import { type Principal, readClaimFacts, toPrincipal } from './principal.js'
import { createResourceMetadata, type ResourceMetadata } from './resource-metadata.js'
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
  /**
   * RFC 9728 protected-resource metadata, when the `resourceMetadata` option is set: adapters serve
   * `document` at `paths`, and every challenge names `url` in `resource_metadata`.
   */
  readonly resourceMetadata: ResourceMetadata | undefined
  /** How many metadata + key-set refreshes were attempted, per token version; for diagnostics. */
  readonly stats: { readonly refreshes: number; readonly cachedTokens: number }
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

  const callerRules: CallerRules = {
    allowedClientIds,
    allowedIdentityTypes: o.allowedIdentityTypes,
    allowTokensWithoutScopesOrRoles: o.allowTokensWithoutScopesOrRoles,
  }

  /** The checks that need no network, then metadata, key, signature, lifetime and caller. */
  async function verify(token: string): Promise<{ principal: Principal; until: number }> {
    const { header, payload, signingInput, signature } = decodeToken(token)
    const kid = checkHeader(header)
    const graph = graphTokenError(header, payload.aud, audiences)
    if (graph !== undefined) throw graph
    const origin = readOrigin(payload)
    const source = sourceFor(origin)
    checkTenant(origin)
    checkAudience(payload.aud, origin.version, audiences)

    const snapshot = source.peek() ?? (await source.current())
    checkIssuer(origin, snapshot.issuer)
    const key = snapshot.keys.get(kid) ?? (await source.findKey(kid))
    if (key === undefined) throw unknownKey(kid, snapshot.jwksUri, source.lastError)
    checkSignature(signingInput, signature, key)
    checkKeyIssuer(key, origin)

    const exp = checkLifetime(payload, now() / 1000, tolerance)
    const facts = readClaimFacts(payload, origin.version)
    checkCaller(facts, origin.version, callerRules)
    return {
      principal: toPrincipal(payload, facts, origin.version, origin.tenantId, exp),
      until: (exp + tolerance) * 1000,
    }
  }

  function sourceFor(origin: TokenOrigin): TrustSource {
    const source = sources.get(origin.version)
    if (source === undefined) {
      throw new AuthError('invalid_issuer', {
        description: 'The token version is not accepted',
        detail: `The token is a v${origin.version}.0 token and this API accepts v${o.tokenVersions.join(' and v')} tokens only. Either add ${origin.version} to tokenVersions, or set accessTokenAcceptedVersion (api.requestedAccessTokenVersion) to ${o.tokenVersions[0]} in the API's app manifest`,
      })
    }
    return source
  }

  /** Before any fetch: a tenant that may not call is refused without network I/O. */
  function checkTenant({ tenantId }: TokenOrigin): void {
    if (mode.kind === 'multi') {
      if (allowedTenants !== undefined && !allowedTenants.has(tenantId)) {
        throw new AuthError('tenant_not_allowed', {
          description: 'The token is from a tenant that may not call this API',
          detail: `tid ${tenantId} is not in allowedTenants; add it if that tenant is a customer of this API`,
        })
      }
    } else if (GUID.test(mode.tenant) && tenantId !== mode.tenant) {
      throw new AuthError('invalid_issuer', {
        description: 'The token issuer is invalid',
        detail: `The token is from tenant ${tenantId}; this single-tenant API accepts tenant ${mode.tenant} only`,
      })
    }
  }

  /** `iss` against the metadata issuer: exact (single tenant) or the `{tenantid}` template with the token's tid. */
  function checkIssuer({ iss, tenantId, version }: TokenOrigin, issuer: string): void {
    if (mode.kind === 'multi') {
      if (issuerMatches(issuer, tenantId, iss)) return
      throw new AuthError('invalid_issuer', {
        description: 'The token issuer is invalid',
        detail: `iss ${shown(iss)} is not ${issuer.replace('{tenantid}', tenantId)} (the metadata issuer with the token's own tid): iss and tid disagree`,
      })
    }
    if (iss === issuer && tenantId === issuerTenant(issuer)) return
    throw new AuthError('invalid_issuer', {
      description: 'The token issuer is invalid',
      detail: `iss is ${shown(iss)}; this API trusts ${issuer} (tenant ${o.tenant}, v${version}.0)`,
    })
  }

  // The tenant written in each metadata issuer (one per token version), parsed once rather than per request.
  const issuerTenants = new Map<string, string | undefined>()
  function issuerTenant(issuer: string): string | undefined {
    if (!issuerTenants.has(issuer)) {
      if (issuerTenants.size > 8) issuerTenants.clear()
      issuerTenants.set(issuer, tenantOfIssuer(issuer))
    }
    return issuerTenants.get(issuer)
  }

  function unknownKey(kid: string, jwksUri: string, failure: string | undefined): AuthError {
    return new AuthError('unknown_key', {
      description: 'The token is signed with an unknown key',
      detail: `kid ${kid} is not in ${jwksUri}${failure === undefined ? '' : ` (the last refresh failed: ${failure})`}. ${appId === undefined ? 'If the app uses claims mapping or a SAML signing certificate (custom signing keys), set customSigningKeys: true. ' : ''}Tokens signed by another issuer or forged tokens also end here`,
    })
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
    resourceMetadata:
      o.resourceMetadata === undefined
        ? undefined
        : createResourceMetadata(o.resourceMetadata, {
            authority,
            tenant: mode.tenant,
            audiences: [...audiences],
          }),
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
