import type { AuthErrorCode } from '@entraguard/core'

/** The id of one step of validation, in {@link VALIDATION_CHECKS}. */
export type CheckId =
  | 'bearer'
  | 'format'
  | 'graph'
  | 'header'
  | 'origin'
  | 'tenant'
  | 'audience'
  | 'metadata'
  | 'issuer'
  | 'key'
  | 'signature'
  | 'key_issuer'
  | 'lifetime'
  | 'caller'
  | 'identity_type'
  | 'scopes_or_roles'
  | 'requirement'

/** One step of validation and the AuthError codes it can end with. */
export interface ValidationCheck {
  readonly id: CheckId
  readonly title: string
  readonly codes: readonly AuthErrorCode[]
  /** Runs after the validator fetched metadata and keys (so a fetch tells the offline checks passed). */
  readonly online: boolean
  /**
   * For a code that several checks of the same stage throw: whether this check threw it, told from the
   * error's detail. A check without it is the fallback for its codes.
   */
  readonly threw?: (code: AuthErrorCode, detail: string) => boolean
}

/**
 * The validator's checks in the order it runs them (packages/core/src/validator.ts, `verify`), then the route
 * requirement. The validator stops at the first failure, so every check before the failing one passed. This
 * table is the only place that knows the order and which check throws which code.
 *
 * @example
 * VALIDATION_CHECKS.map((c) => c.title)
 */
export const VALIDATION_CHECKS: readonly ValidationCheck[] = Object.freeze([
  {
    id: 'bearer',
    title: 'A bearer token (or an Authorization header value) was given',
    codes: ['missing_token', 'malformed_request'],
    online: false,
  },
  {
    id: 'format',
    title: 'Token format: three canonical base64url parts of strict JSON, at most 16 KiB',
    codes: ['malformed_token'],
    online: false,
  },
  {
    id: 'graph',
    title: 'Not a Microsoft Graph token',
    codes: ['invalid_audience'],
    online: false,
    threw: (_, detail) => /token for Microsoft Graph/.test(detail),
  },
  {
    id: 'header',
    title: 'Header: alg RS256 and a key ID (kid)',
    codes: ['unsupported_algorithm', 'malformed_token'],
    online: false,
    threw: (code, detail) => code === 'unsupported_algorithm' || /The token header has/.test(detail),
  },
  {
    id: 'origin',
    title: 'iss, tid and ver agree, and the token version is accepted',
    codes: ['malformed_token', 'invalid_issuer'],
    online: false,
    threw: (_, detail) => /\b(iss|tid) claim|does not agree with the issuer form|tokens only/.test(detail),
  },
  {
    id: 'tenant',
    title: 'Tenant (tid) may call this API',
    codes: ['tenant_not_allowed', 'invalid_issuer'],
    online: false,
    threw: (code, detail) => code === 'tenant_not_allowed' || /single-tenant API accepts/.test(detail),
  },
  {
    id: 'audience',
    title: 'Audience (aud) is one of this API’s',
    codes: ['invalid_audience'],
    online: false,
  },
  {
    id: 'metadata',
    title: 'OpenID metadata and signing keys fetched from the authority',
    codes: ['metadata_unavailable'],
    online: true,
  },
  {
    id: 'issuer',
    title: 'Issuer (iss) equals the metadata issuer',
    codes: ['invalid_issuer'],
    online: true,
  },
  { id: 'key', title: 'Signing key (kid) is in the key set', codes: ['unknown_key'], online: true },
  { id: 'signature', title: 'RS256 signature verifies', codes: ['invalid_signature'], online: true },
  {
    id: 'key_issuer',
    title: 'The signing key belongs to the token’s issuer',
    codes: ['invalid_issuer'],
    online: true,
    threw: (_, detail) => /signing key/i.test(detail),
  },
  {
    id: 'lifetime',
    title: 'Lifetime: exp, iat and nbf within the clock tolerance',
    codes: ['malformed_token', 'expired', 'not_yet_valid'],
    online: true,
    threw: (code, detail) =>
      code !== 'malformed_token' || /claim must be a finite number|expires before/.test(detail),
  },
  {
    id: 'caller',
    title: 'Calling application (appid / azp) is named and allowed',
    codes: ['malformed_token', 'client_not_allowed'],
    online: true,
  },
  {
    id: 'identity_type',
    title: 'Identity type (app or user) is allowed',
    codes: ['identity_type_not_allowed'],
    online: true,
  },
  {
    id: 'scopes_or_roles',
    title: 'The token carries scopes (scp) or app roles (roles)',
    codes: ['no_scope_or_role'],
    online: true,
  },
  {
    id: 'requirement',
    title: 'Route requirement (--roles / --scopes)',
    codes: ['insufficient_scope'],
    online: true,
  },
] satisfies ValidationCheck[])

/**
 * Which check threw an AuthError: among the checks of the stage the validator reached (`online`: it fetched
 * metadata) that list the code, the one whose `threw` recognises the detail, else the one without `threw`.
 *
 * @example
 * failingCheck('expired', 'The token expired at …', true).id // 'lifetime'
 */
export function failingCheck(code: AuthErrorCode, detail: string, online: boolean): ValidationCheck {
  const candidates = VALIDATION_CHECKS.filter(
    (c) => c.codes.includes(code) && (c.online === online || code === 'metadata_unavailable'),
  )
  const found =
    candidates.find((c) => c.threw?.(code, detail) === true) ?? candidates.find((c) => c.threw === undefined)
  // A code the table does not place (a new one in core): the first check that lists it, else the first check.
  return (
    found ?? candidates[0] ?? VALIDATION_CHECKS.find((c) => c.codes.includes(code)) ?? VALIDATION_CHECKS[0]!
  )
}
