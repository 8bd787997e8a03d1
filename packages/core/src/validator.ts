import { checkAudience, graphTokenError, namingGraph, shown } from './audience.js'
import type { AccessContext } from './audit.js'
import { bearerToken } from './bearer.js'
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
import { type HotPath, LISTENED, rejectSoon, VALIDATE_NOW } from './hot-path.js'
import { issuerMatches, issuerVersion, metadataUrl, type TenantMode, tenantOfIssuer } from './issuer.js'
import {
  CLOUD_AUTHORITIES,
  GUID,
  parseValidatorOptions,
  type ValidateOptions,
  type ValidatorOptions,
} from './options.js'
import { type PreflightReport, runPreflight } from './preflight.js'
import { type ClaimFacts, type Principal, readClaimFacts, toPrincipal } from './principal.js'
import { createResourceMetadata, type ResourceMetadata } from './resource-metadata.js'
import type { SigningKey } from './signing-keys.js'
import { startValidation, type ValidationTelemetry } from './telemetry.js'
import { TokenCache } from './token-cache.js'
import { type DecodedToken, decodeToken } from './token-format.js'
import { type TrustSnapshot as Snapshot, TrustSource } from './trust-source.js'

/**
 * Validates Entra ID access tokens. Create one per API (it holds the key and token caches) with
 * {@link createValidator}.
 */
export interface Validator {
  /**
   * Validates an `Authorization` header value or a bare token. Resolves to the {@link Principal}; rejects
   * with an {@link AuthError} (401, 400, 403 or 503), never with anything else for bad input.
   */
  validate(tokenOrAuthorizationHeader: string | undefined, options?: ValidateOptions): Promise<Principal>
  /** The `reportOnly` option: adapters report refusals instead of answering them, unless told otherwise per route. */
  readonly reportOnly: boolean
  /** Fetches the metadata and keys now, so the first request does not wait. Rejects with `metadata_unavailable`. */
  warm(): Promise<void>
  /**
   * Checks the configuration and the issuer before the first request, and warms the keys: audience forms
   * against `tokenVersions`, cloud and authority, the tenant, the metadata and keys. Never rejects.
   */
  preflight(): Promise<PreflightReport>
  /** Sends an event to `onEvent` (adapters use it for `access.*` events); `at` defaults to now. */
  emit(event: Omit<AuthEvent, 'at'> & { at?: Date }): void
  /** Stops the background key refresh timers. The validator keeps working, on demand only. */
  close(): void
  /**
   * RFC 9728 protected-resource metadata, when the `resourceMetadata` option is set: adapters serve
   * `document` at `paths`, and every challenge names `url` in `resource_metadata`.
   */
  readonly resourceMetadata: ResourceMetadata | undefined
  /** How many refreshes (metadata + key set) were attempted, and how many validations are cached; for diagnostics. */
  readonly stats: { readonly refreshes: number; readonly cachedTokens: number }
}

/** A token that passed every check, and until when (epoch ms) a fresh validation would pass too. */
interface Verified {
  principal: Principal
  until: number
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

  const versions: ReadonlySet<1 | 2> = new Set(o.tokenVersions)
  // One key pool: the v2.0 key set signs v1 tokens too (as Microsoft.Identity.Web reads it); the other
  // version's document is read for its issuer only.
  const keysVersion = versions.has(2) ? 2 : 1
  const document = (version: 1 | 2) => ({ version, url: metadataUrl(authority, mode, version, appId) })
  const source = new TrustSource({
    documents: [document(keysVersion), ...[...versions].filter((v) => v !== keysVersion).map(document)],
    fetch: fetchFn,
    limits: { timeout: o.jwks.timeout, maxBytes: o.jwks.maxBytes },
    cooldown: o.jwks.cooldown,
    refreshInterval: o.jwks.refreshInterval,
    maxStale: o.jwks.maxStale,
    now,
    onEvent: o.onEvent,
    appId,
    checkIssuer: checkMetadataIssuer,
    // A validation signed by a withdrawn key must not outlive it (DESIGN: a cached validation is served
    // exactly as long as a fresh one would pass); withdrawals are rare, so forgetting everything is cheap.
    onKeysWithdrawn: () => cache?.clear(),
  })

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

  /**
   * The checks that need no network, then metadata, key, signature, lifetime and caller: synchronous, unless
   * the metadata or an unknown key must be fetched first. Refusals are returned, not thrown.
   */
  function verify(token: string): Verified | AuthError | Promise<Verified | AuthError> {
    const decoded = decodeToken(token)
    if (decoded instanceof AuthError) return namingGraph(decoded, token, audiences)
    const { header, payload } = decoded
    // A Graph token is never accepted; naming it first keeps "altered or forged" from hiding the real mistake.
    const graph = graphTokenError(header, payload.aud, audiences)
    if (graph !== undefined) return graph
    const kid = checkHeader(header)
    if (typeof kid !== 'string') return kid
    const origin = readOrigin(payload)
    if (origin instanceof AuthError) return origin
    const refusal =
      checkVersion(origin) ?? checkTenant(origin) ?? checkAudience(payload.aud, origin.version, audiences)
    if (refusal !== undefined) return refusal
    const snapshot = source.peek()
    return snapshot === undefined
      ? source.current().then((loaded) => withKeys(decoded, kid, origin, loaded))
      : withKeys(decoded, kid, origin, snapshot)
  }

  function withKeys(
    decoded: DecodedToken,
    kid: string,
    origin: TokenOrigin,
    snapshot: Snapshot,
  ): Verified | AuthError | Promise<Verified | AuthError> {
    // Every accepted version's issuer is in a snapshot: the first load reads all documents.
    const refusal = checkIssuer(origin, snapshot.issuers.get(origin.version) as string)
    if (refusal !== undefined) return refusal
    const key = snapshot.keys.get(kid)
    if (key !== undefined) return withKey(decoded, origin, snapshot, key)
    return source
      .findKey(kid)
      .then((found) =>
        found === undefined
          ? unknownKey(kid, snapshot.jwksUri, source.lastError)
          : withKey(decoded, origin, snapshot, found),
      )
  }

  function withKey(
    decoded: DecodedToken,
    origin: TokenOrigin,
    snapshot: Snapshot,
    key: SigningKey,
  ): Verified | AuthError {
    const refusal =
      checkSignature(decoded.signingInput, decoded.signature, key) ??
      checkKeyIssuer(key, origin, snapshot.keysVersion === 2 ? snapshot.issuers.get(2) : undefined)
    if (refusal !== undefined) return refusal
    const { payload } = decoded
    const exp = checkLifetime(payload, now() / 1000, tolerance)
    if (typeof exp !== 'number') return exp
    let facts: ClaimFacts
    try {
      facts = readClaimFacts(payload, origin.version)
    } catch (err) {
      if (isAuthError(err)) return err
      throw err
    }
    const caller = checkCaller(facts, origin.version, callerRules)
    if (typeof caller !== 'string') return caller
    return {
      principal: toPrincipal(payload, facts, origin.version, origin.tenantId, exp),
      until: (exp + tolerance) * 1000,
    }
  }

  function checkVersion(origin: TokenOrigin): AuthError | undefined {
    if (!versions.has(origin.version)) {
      return new AuthError('invalid_issuer', {
        description: 'The token version is not accepted',
        detail: `The token is a v${origin.version}.0 token and this API accepts v${o.tokenVersions.join(' and v')} tokens only. Either add ${origin.version} to tokenVersions, or set accessTokenAcceptedVersion (api.requestedAccessTokenVersion) to ${o.tokenVersions[0]} in the API's app manifest`,
      })
    }
    return undefined
  }

  /** Before any fetch: a tenant that may not call is refused without network I/O. */
  function checkTenant({ tenantId }: TokenOrigin): AuthError | undefined {
    if (mode.kind === 'multi') {
      if (allowedTenants !== undefined && !allowedTenants.has(tenantId)) {
        return new AuthError('tenant_not_allowed', {
          description: 'The token is from a tenant that may not call this API',
          detail: `tid ${tenantId} is not in allowedTenants; add it if that tenant is a customer of this API`,
        })
      }
    } else if (GUID.test(mode.tenant) && tenantId !== mode.tenant) {
      return new AuthError('invalid_issuer', {
        description: 'The token issuer is invalid',
        detail: `The token is from tenant ${tenantId}; this single-tenant API accepts tenant ${mode.tenant} only`,
      })
    }
    return undefined
  }

  /** `iss` against the metadata issuer: exact (single tenant) or the `{tenantid}` template with the token's tid. */
  function checkIssuer({ iss, tid, version }: TokenOrigin, issuer: string): AuthError | undefined {
    if (mode.kind === 'multi') {
      if (issuerMatches(issuer, tid, iss)) return undefined
      return new AuthError('invalid_issuer', {
        description: 'The token issuer is invalid',
        detail: `iss ${shown(iss)} is not ${issuer.replace('{tenantid}', tid)} (the metadata issuer with the token's own tid): iss and tid disagree`,
      })
    }
    if (iss === issuer && tid === issuerTenant(issuer)) return undefined
    return new AuthError('invalid_issuer', {
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

  /** A token's principal, or its refusal: synchronous unless keys must be fetched (see {@link ValidateNow}). */
  function validateNow(
    input: unknown,
    reportOnly: boolean | undefined,
    context: AccessContext | undefined,
  ): Principal | AuthError | Promise<Principal> {
    const telemetry = startValidation()
    try {
      // `Bearer <one of the most served tokens>` (or the bare token): recognised whole, before any parsing.
      if (cache !== undefined && typeof input === 'string') {
        const served = cache.served(input.startsWith('Bearer ') ? input.slice(7) : input, now())
        if (served !== undefined && source.peek() !== undefined) return accepted(served, true, telemetry)
      }
      const token = bearerToken(input)
      if (typeof token !== 'string') return refused(token, telemetry, reportOnly, context)
      const tail = cache === undefined ? '' : cache.tail(token)
      if (tail !== '') {
        const hit = cache?.get(token, tail, now())
        // Past jwks.maxStale without keys a fresh validation answers 503: so does a cached one.
        if (hit !== undefined && source.peek() !== undefined) return accepted(hit, true, telemetry)
      }
      const result = telemetry.within(verify, token)
      if (result instanceof AuthError) return refused(result, telemetry, reportOnly, context)
      if (!(result instanceof Promise)) return admitted(token, tail, result, telemetry)
      return result.then(
        (settled) => {
          if (settled instanceof AuthError) throw refused(settled, telemetry, reportOnly, context)
          return admitted(token, tail, settled, telemetry)
        },
        (err: unknown) => {
          throw isAuthError(err) ? refused(err, telemetry, reportOnly, context) : failed(err, telemetry)
        },
      )
    } catch (err) {
      throw failed(err, telemetry)
    }
  }

  function admitted(
    token: string,
    tail: string,
    verified: Verified,
    telemetry: ValidationTelemetry,
  ): Principal {
    if (tail !== '') cache?.add(token, tail, verified.principal, verified.until)
    return accepted(verified.principal, false, telemetry)
  }

  function accepted(principal: Principal, cached: boolean, telemetry: ValidationTelemetry): Principal {
    if (o.onEvent !== undefined) {
      safeEmit(o.onEvent, { type: 'token.validated', at: new Date(now()), ...idsOf(principal), cached })
    }
    telemetry.ok(principal, cached)
    return principal
  }

  function refused(
    err: AuthError,
    telemetry: ValidationTelemetry,
    reportOnly: boolean | undefined,
    context: AccessContext | undefined,
  ): AuthError {
    telemetry.fail(err)
    // No event object (nor Date) for a refusal nobody listens to.
    if (o.onEvent !== undefined)
      safeEmit(o.onEvent, {
        type: (reportOnly ?? o.reportOnly) ? 'token.would_reject' : 'token.rejected',
        at: new Date(now()),
        code: err.code,
        reason: err.detail,
        ...context,
      })
    return err
  }

  function failed(err: unknown, telemetry: ValidationTelemetry): unknown {
    telemetry.fail(err)
    return err
  }

  const validator: Validator & HotPath = {
    validate(input, call) {
      let result: Principal | AuthError | Promise<Principal>
      try {
        result = validateNow(input, call?.reportOnly, call?.context)
      } catch (err) {
        return Promise.reject(err)
      }
      if (result instanceof Promise) return result
      return result instanceof AuthError ? rejectSoon(result) : Promise.resolve(result)
    },
    [VALIDATE_NOW]: validateNow,
    [LISTENED]: o.onEvent !== undefined,
    reportOnly: o.reportOnly,
    async warm() {
      await source.current()
    },
    preflight: () =>
      runPreflight({
        options: o,
        authority,
        mode,
        metadataUrl: document(keysVersion).url,
        source,
        fetch: fetchFn,
      }),
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
      source.close()
    },
    get stats() {
      return { refreshes: source.fetchCount, cachedTokens: cache?.size ?? 0 }
    },
  }
  return validator
}
