import { buildChallenge } from './challenge.js'

/** Every code an {@link AuthError} can carry. */
export type AuthErrorCode =
  | 'missing_token'
  | 'malformed_request'
  | 'malformed_token'
  | 'unsupported_algorithm'
  | 'invalid_signature'
  | 'unknown_key'
  | 'expired'
  | 'not_yet_valid'
  | 'invalid_issuer'
  | 'tenant_not_allowed'
  | 'invalid_audience'
  | 'client_not_allowed'
  | 'identity_type_not_allowed'
  | 'insufficient_scope'
  | 'no_scope_or_role'
  | 'forbidden'
  | 'metadata_unavailable'

/** The RFC 6750 error codes used in challenges. */
export type BearerErrorCode = 'invalid_request' | 'invalid_token' | 'insufficient_scope'

const TABLE: Record<AuthErrorCode, { status: number; error?: BearerErrorCode }> = {
  missing_token: { status: 401 },
  malformed_request: { status: 400, error: 'invalid_request' },
  malformed_token: { status: 401, error: 'invalid_token' },
  unsupported_algorithm: { status: 401, error: 'invalid_token' },
  invalid_signature: { status: 401, error: 'invalid_token' },
  unknown_key: { status: 401, error: 'invalid_token' },
  expired: { status: 401, error: 'invalid_token' },
  not_yet_valid: { status: 401, error: 'invalid_token' },
  invalid_issuer: { status: 401, error: 'invalid_token' },
  tenant_not_allowed: { status: 401, error: 'invalid_token' },
  invalid_audience: { status: 401, error: 'invalid_token' },
  client_not_allowed: { status: 401, error: 'invalid_token' },
  identity_type_not_allowed: { status: 401, error: 'invalid_token' },
  insufficient_scope: { status: 403, error: 'insufficient_scope' },
  no_scope_or_role: { status: 403, error: 'insufficient_scope' },
  forbidden: { status: 403 },
  metadata_unavailable: { status: 503 },
}

/** Every {@link AuthErrorCode}, for exhaustive tests and documentation. */
export const AUTH_ERROR_CODES = Object.freeze(Object.keys(TABLE) as AuthErrorCode[])

/** What {@link AuthError} is built from. */
export interface AuthErrorInit {
  /** Safe to send to the client (goes into `error_description`). */
  description: string
  /** For the operator's log: what was expected, what came, how to fix it. Never holds the token. */
  detail?: string | undefined
  /** The `scope` attribute of an `insufficient_scope` challenge: what the route required. */
  scope?: string | undefined
  /** Seconds, for `metadata_unavailable`. */
  retryAfter?: number | undefined
  /** RFC 9728: the protected-resource metadata URL that challenges point to. */
  resourceMetadata?: string | undefined
  cause?: unknown
}

/**
 * The one error entraguard throws for a request that must not pass. It carries the HTTP status and the
 * headers, so Express's and Fastify's default error handlers already answer correctly.
 *
 * @example
 * try { await validator.validate(header) } catch (err) {
 *   if (err instanceof AuthError) log.warn({ code: err.code, detail: err.detail })
 * }
 */
export class AuthError extends Error {
  declare readonly name: 'AuthError'
  /** Stable machine-readable code. */
  readonly code: AuthErrorCode
  /** HTTP status: 400, 401, 403 or 503. */
  readonly status: number
  /** The same as `status`, for frameworks that read `statusCode`. */
  readonly statusCode: number
  /** The RFC 6750 error code, when the challenge carries one. */
  readonly error: BearerErrorCode | undefined
  /** Safe for the client. */
  readonly description: string
  /** Actionable, for the operator's log. */
  readonly detail: string
  /** The ready `WWW-Authenticate` value (absent for `forbidden` and `metadata_unavailable`). */
  readonly wwwAuthenticate: string | undefined
  /** Headers to send with the response: `WWW-Authenticate`, and `Retry-After` for 503. */
  readonly headers: Readonly<Record<string, string>>
  /** Makes error handlers (Express's `expose`, Fastify's) show `message` to the client: it is safe. */
  declare readonly expose: true
  readonly #init: AuthErrorInit

  constructor(code: AuthErrorCode, init: AuthErrorInit) {
    // A refusal is an answer, not a fault: its stack would only point into entraguard, and capturing it was
    // most of the cost of refusing garbage (issue 9). An unavailable identity provider keeps its stack.
    const limit = Error.stackTraceLimit
    if (code !== 'metadata_unavailable') Error.stackTraceLimit = 0
    // Error's constructor cannot throw here: the limit is always restored.
    super(init.description, init.cause === undefined ? undefined : { cause: init.cause })
    Error.stackTraceLimit = limit
    this.#init = init
    const row = TABLE[code]
    this.code = code
    this.status = row.status
    this.statusCode = row.status
    this.error = row.error
    this.description = init.description
    this.detail = init.detail ?? init.description
    if (code === 'metadata_unavailable') {
      this.wwwAuthenticate = undefined
      this.headers = Object.freeze({ 'Retry-After': String(Math.max(1, Math.ceil(init.retryAfter ?? 30))) })
    } else if (code === 'forbidden') {
      this.wwwAuthenticate = undefined
      this.headers = NO_HEADERS
    } else {
      const challenge = challengeOf(row.error, init)
      this.wwwAuthenticate = challenge['WWW-Authenticate']
      this.headers = challenge
    }
  }

  /** The `scope` of an `insufficient_scope` challenge: what was required. */
  get scope(): string | undefined {
    return this.#init.scope
  }

  /**
   * The same refusal with a rebuilt challenge: RFC 9728's `resource_metadata`, and/or `scope` in another form
   * (the full `<App ID URI>/<name>` form clients must request). Code, status and texts stay.
   *
   * @example
   * throw err.withChallenge({ resourceMetadata: 'https://api.contoso.com/.well-known/oauth-protected-resource' })
   */
  withChallenge(extra: { resourceMetadata?: string | undefined; scope?: string | undefined }): AuthError {
    const copy = new AuthError(this.code, {
      ...this.#init,
      ...(extra.resourceMetadata !== undefined ? { resourceMetadata: extra.resourceMetadata } : {}),
      ...(extra.scope !== undefined ? { scope: extra.scope } : {}),
    })
    if (this.stack !== undefined) copy.stack = this.stack
    return copy
  }

  /**
   * Where this refusal is explained for the operator: the entry of its code in entraguard's troubleshooting
   * guide (`entraguard inspect --explain <code>` prints the same entry).
   *
   * @example
   * log.warn({ code: err.code, detail: err.detail, help: err.help }) // help: 'docs/troubleshooting.md#expired'
   */
  get help(): string {
    return `docs/troubleshooting.md#${this.code}`
  }

  /** The JSON body adapters send: `{ error, error_description }`. */
  toJSON(): { error: string; error_description: string } {
    return { error: this.error ?? this.code, error_description: this.description }
  }

  static {
    // On the prototype, not defined on every refusal: both are the same for all of them.
    Object.defineProperty(AuthError.prototype, 'name', {
      value: 'AuthError',
      writable: true,
      configurable: true,
    })
    Object.defineProperty(AuthError.prototype, 'expose', { value: true, writable: true, configurable: true })
  }
}

const NO_HEADERS: Readonly<Record<string, string>> = Object.freeze({})

type Challenge = Readonly<{ 'WWW-Authenticate': string }>

// Refusals repeat a small set of (error, description) pairs: their challenge, and the frozen headers object
// that carries it, are built once and shared. Bounded, since a description may be computed.
const CHALLENGES = new Map<BearerErrorCode | undefined, Map<string, Challenge>>()
let cached = 0

function challengeOf(error: BearerErrorCode | undefined, init: AuthErrorInit): Challenge {
  const scope = error === 'insufficient_scope' ? init.scope : undefined
  if (scope !== undefined || init.resourceMetadata !== undefined) {
    return Object.freeze({
      'WWW-Authenticate': buildChallenge(
        error === undefined
          ? { resourceMetadata: init.resourceMetadata }
          : { error, description: init.description, scope, resourceMetadata: init.resourceMetadata },
      ),
    })
  }
  // Two levels rather than one joined key: no string is built to look a challenge up.
  let byDescription = CHALLENGES.get(error)
  if (byDescription === undefined) {
    byDescription = new Map()
    CHALLENGES.set(error, byDescription)
  }
  const description = error === undefined ? '' : init.description
  let challenge = byDescription.get(description)
  if (challenge === undefined) {
    challenge = Object.freeze({
      'WWW-Authenticate': buildChallenge(error === undefined ? {} : { error, description }),
    })
    if (cached >= 256) {
      for (const map of CHALLENGES.values()) map.clear()
      cached = 0
    }
    byDescription.set(description, challenge)
    cached++
  }
  return challenge
}

/** True for an {@link AuthError}, also across duplicated package copies. */
export function isAuthError(value: unknown): value is AuthError {
  return (
    value instanceof AuthError || (value instanceof Error && value.name === 'AuthError' && 'code' in value)
  )
}
