import { IncomingMessage } from 'node:http'
import {
  type Access,
  type AccessContext,
  AuthError,
  type AuthenticateOptions,
  authorize,
  ConfigurationError,
  formatPreflight,
  isAuthError,
  type Policy,
  type Principal,
  type Requirement,
  type ResourceMetadata,
  useValidator,
  type Validator,
  type ValidatorSource,
} from '@entraguard/core'
import { allowsQuietly, authenticateNow } from '@entraguard/core/internal'
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** The validated caller, set by `entraAuth()`. Unset for anonymous requests on `optional: true`. */
      auth?: Principal | undefined
    }
  }
}

/** Options of {@link entraAuth}: validator options, or a validator you created. */
export type EntraAuthOptions = ValidatorSource & {
  /** Let requests *without* a token through with `req.auth` unset. A bad token is still refused. */
  optional?: boolean
  /**
   * Report-only roll-out: a refused token is reported as `token.would_reject` and the request goes on with
   * `req.auth` unset; guards report `access.would_deny` instead of answering 403. Default: the validator's
   * `reportOnly`. A guard can differ with {@link reportOnly}.
   */
  reportOnly?: boolean | undefined
  /**
   * Run `validator.preflight()` when the middleware is created: `'warn'` reports its problems as a process
   * warning (code `ENTRAGUARD_PREFLIGHT`); `'fail'` also makes the middleware's `ready()` reject, so an app that
   * awaits it before `listen()` refuses to start. Express has no start-up hook, hence `ready()`. Default `false`.
   */
  preflight?: 'warn' | 'fail' | false | undefined
}

/** The middleware of {@link entraAuth}, with the outcome of its start-up preflight. */
export type EntraAuthMiddleware = RequestHandler & {
  /**
   * Resolves when the preflight passed (or none was asked for); with `preflight: 'fail'`, rejects with the
   * report's problems and fixes when one of them is an error.
   */
  ready(): Promise<void>
}

/** What entraAuth() leaves on the request for the guards after it. */
interface AuthState {
  validator: Validator
  reportOnly: boolean
  /** The refusal that report-only let through: a guard that enforces answers with it. */
  refusal?: AuthError
}

// The state of report-only and anonymous requests, whose state differs per request. Kept beside the request,
// not on it: a property read that misses on an Express request walks its whole prototype chain (see setAuth).
// One map for every copy of this package in the process, as the symbol it replaces was.
const STATES: WeakMap<object, AuthState> = ((globalThis as Record<symbol, unknown>)[
  Symbol.for('entraguard.express.states')
] ??= new WeakMap()) as WeakMap<object, AuthState>

// Which enforcing entraAuth() produced a principal. Adding a property to an Express request costs ~3 µs (its
// objects do not share hidden classes: measured on Express 5 with Node 20), so an accepted request carries only
// `req.auth`, and the guards find the middleware's state through the principal, which the validator's cache
// reuses: one WeakMap entry per principal, not an entry per request. Report-only and anonymous requests have
// theirs in STATES.
const OWNERS = new WeakMap<Principal, Readonly<AuthState>>()

function stateOf(req: Request): AuthState | undefined {
  const own = STATES.get(req)
  if (own !== undefined) return own
  return req.auth === undefined ? undefined : OWNERS.get(req.auth)
}

/**
 * Express middleware that validates the bearer token and sets `req.auth`. Failures go to `next(err)` as an
 * {@link AuthError} carrying `status` and `headers`, so Express's error handler answers 401/400/503 with
 * `WWW-Authenticate`. `req.auth` is an accessor on Express's request prototype (a property added to an Express
 * request copies its hidden class): read and assign it as usual; clear it by assigning `undefined` (`delete`
 * does not), and it is not an own key of `req`.
 *
 * @example
 * app.use(entraAuth({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' }))
 */
export function entraAuth(options: EntraAuthOptions): EntraAuthMiddleware {
  const { optional = false, reportOnly: report, preflight = false, ...rest } = options
  const { validator } = useValidator(rest as ValidatorSource)
  const ready = startPreflight(validator, preflight)
  const reportOnly = report ?? validator.reportOnly === true
  const metadata = validator.resourceMetadata
  // Enforcing, the guards' state never changes: one object serves every request.
  const enforcing: Readonly<AuthState> = Object.freeze({ validator, reportOnly })
  const middleware = function entraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (metadata !== undefined && metadata.paths.includes(req.path)) {
      serveMetadata(metadata, req, res)
      return
    }
    // The route is not matched yet at app.use() level: the method is all an event can name here.
    let mode: AuthenticateOptions
    if (reportOnly) {
      // Only report-only lets a refusal through for a later, enforcing guard: a state of its own per request.
      const state: AuthState = { validator, reportOnly }
      STATES.set(req, state)
      mode = {
        optional,
        reportOnly,
        context: { method: req.method },
        onWouldReject: (refusal: AuthError) => {
          state.refusal = refusal
        },
      }
    } else mode = { optional, reportOnly, context: { method: req.method } }
    // Synchronous unless keys must be fetched: a known token goes on to next() with no promise in between.
    const outcome = authenticateNow(
      validator,
      { headers: req.rawHeaders, url: req.url, body: req.body },
      mode,
    )
    if (outcome instanceof Promise) {
      outcome.then((principal) => admit(req, principal, next, reportOnly ? undefined : enforcing), next)
    } else if (outcome instanceof Error) next(outcome)
    else admit(req, outcome, next, reportOnly ? undefined : enforcing)
  }
  return Object.assign(middleware, { ready })
}

// Express gives every request object a hidden class of its own (app.handle sets its prototype), so adding a
// property to one copies that class: `req.auth = principal` cost ≈15,000 instructions and 2 KiB of garbage per
// request (bench/http-count.ts), the largest part of entraguard's cost on a reused token. So `auth` is an
// accessor on Express's own request prototype (the one every app's `app.request` inherits from), backed by a
// WeakMap: reading, assigning and `in` work as before; `delete req.auth` is a no-op (assign undefined instead),
// and `auth` is not an own key of the request. Installed on the first request admitted; a request object that
// does not inherit from an Express request (a mock) gets a plain property, as before.
const AUTH = new WeakMap<object, Principal | undefined>()
const AUTH_PROPERTY: PropertyDescriptor = {
  configurable: true,
  enumerable: true,
  get(this: object): Principal | undefined {
    return AUTH.get(this)
  },
  set(this: object, value: Principal | undefined) {
    AUTH.set(this, value)
  },
}
// Prototypes (each app's `app.request`) known to reach the accessor, and those known not to.
const CARRIERS = new WeakMap<object, boolean>()

// The app.request last found to reach the accessor: one comparison for an app's every request.
let carrier: object | undefined

function setAuth(req: Request, principal: Principal): void {
  const proto = Object.getPrototypeOf(req) as object | null
  if (proto === carrier || (proto !== null && (CARRIERS.get(proto) ?? carries(proto)))) {
    carrier = proto as object
    AUTH.set(req, principal)
  } else req.auth = principal
}

/** Whether requests of prototype `proto` reach the `auth` accessor; installs it on Express's request prototype. */
function carries(proto: object): boolean {
  let found = false
  for (let p: object | null = proto; p !== null && !found; p = Object.getPrototypeOf(p) as object | null) {
    const own = Object.getOwnPropertyDescriptor(p, 'auth')
    if (own !== undefined) {
      found = own.get === AUTH_PROPERTY.get
      break
    }
    // Express's request prototype: the first one down from http.IncomingMessage.prototype, with Express's methods.
    const parent = Object.getPrototypeOf(p) as object | null
    if (parent === IncomingMessage.prototype && typeof (p as { accepts?: unknown }).accepts === 'function') {
      Object.defineProperty(p, 'auth', AUTH_PROPERTY)
      found = true
    }
  }
  CARRIERS.set(proto, found)
  return found
}

/** Sets `req.auth`; an enforcing middleware (`enforcing` given) also records its state for the guards. */
function admit(
  req: Request,
  principal: Principal | undefined,
  next: NextFunction,
  enforcing: Readonly<AuthState> | undefined,
): void {
  if (enforcing !== undefined) {
    if (principal === undefined) STATES.set(req, enforcing)
    else if (OWNERS.get(principal) !== enforcing) OWNERS.set(principal, enforcing)
  }
  if (principal !== undefined) setAuth(req, principal)
  next()
}

/** Starts the preflight now; `ready()` reads its outcome later, so an app that never calls it has no unhandled rejection. */
function startPreflight(validator: Validator, mode: 'warn' | 'fail' | false): () => Promise<void> {
  if (mode === false) return () => Promise.resolve()
  const outcome = validator.preflight().then((report) => {
    if (report.problems.length === 0) return undefined
    const text = formatPreflight(report)
    process.emitWarning(text, { code: 'ENTRAGUARD_PREFLIGHT' })
    return report.ok ? undefined : text
  })
  return () =>
    outcome.then((failure) => {
      if (mode === 'fail' && failure !== undefined) throw new ConfigurationError(failure)
    })
}

function serveMetadata(metadata: ResourceMetadata, req: Request, res: Response): void {
  const answer = metadata.respond(req.method)
  res.status(answer.status).set(answer.headers).end(answer.body)
}

/**
 * Serves the validator's RFC 9728 protected-resource metadata at its paths, for apps whose `entraAuth()` is
 * not mounted at the root (`app.use('/mcp', ...)`). `entraAuth()` at the root serves it by itself.
 *
 * @example
 * app.use(resourceMetadataHandler(validator))
 */
export function resourceMetadataHandler(validator: Validator): RequestHandler {
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      'entraguard: resourceMetadataHandler() needs a validator created with the resourceMetadata option',
    )
  }
  return function entraResourceMetadata(req: Request, res: Response, next: NextFunction): void {
    if (metadata.paths.includes(req.path)) serveMetadata(metadata, req, res)
    else next()
  }
}

function contextOf(req: Request): AccessContext {
  const route = (req.route as { path?: unknown } | undefined)?.path
  return { method: req.method, route: typeof route === 'string' ? `${req.baseUrl}${route}` : undefined }
}

const GUARD = Symbol.for('entraguard.express.guard')
type Guard = RequestHandler & {
  [GUARD]?: { name: string; access: (req: Request) => Access; reportOnly: boolean | undefined }
}

function guard(name: string, access: (req: Request) => Access, report?: boolean): RequestHandler {
  const handler: Guard = function entraGuard(req: Request, _res: Response, next: NextFunction): void {
    const state = stateOf(req)
    if (state === undefined) {
      next(
        new Error(
          `entraguard: ${name}() runs before entraAuth(); add app.use(entraAuth(...)) (or put it on the router) ahead of this route`,
        ),
      )
      return
    }
    const reportOnly = report ?? state.reportOnly
    const principal = req.auth
    if (principal === undefined) {
      // A refused token was reported by entraAuth() already; an enforcing guard answers with that refusal.
      if (state.refusal !== undefined) {
        next(reportOnly ? undefined : state.refusal)
        return
      }
      const missing = new AuthError('missing_token', {
        description: 'No bearer token was sent',
        detail: `${name}() needs a token; this request came without one (entraAuth optional mode)`,
      })
      if (!reportOnly) {
        next(missing)
        return
      }
      const { method, route } = contextOf(req)
      state.validator.emit({
        type: 'token.would_reject',
        code: missing.code,
        reason: missing.detail,
        method,
        route,
      })
      next()
      return
    }
    try {
      const needs = access(req)
      // The route and method are read only for a decision that is reported (Express's request properties
      // are slow to read: see setAuth).
      if (!allowsQuietly(principal, needs, state.validator))
        authorize(principal, needs, contextOf(req), state.validator, { reportOnly })
      next()
    } catch (err) {
      next(err)
    }
  }
  handler[GUARD] = { name, access, reportOnly: report }
  return handler
}

/**
 * Sets a guard's own report-only mode, whatever `entraAuth()`'s is: `reportOnly(guard)` reports its denials
 * as `access.would_deny` and lets the request on; `reportOnly(guard, false)` enforces it under a report-only
 * `entraAuth()` (a refused token then answers with its own 401 / 400 / 503). Token checks themselves follow
 * `entraAuth()`'s mode: the route is not known when they run.
 *
 * @example
 * app.post('/stocks', reportOnly(requireRoles('Stocks.Write')), handler)
 * app.delete('/stocks/:symbol', reportOnly(requireRoles('Stocks.Admin'), false), handler)
 */
export function reportOnly(handler: RequestHandler, enabled = true): RequestHandler {
  const spec = (handler as Guard)[GUARD]
  if (spec === undefined) {
    throw new ConfigurationError(
      'entraguard: reportOnly() takes a guard of @entraguard/express (requireRoles, requireScopes, requireAuth, requirePermission)',
    )
  }
  return guard(spec.name, spec.access, enabled)
}

/**
 * Requires delegated scopes (`scp`): any of them, or all with `requireAuth({ scopes, match: 'all' })`.
 *
 * @example
 * app.get('/me', requireScopes('Stocks.Read'), handler)
 */
export function requireScopes(...scopes: string[]): RequestHandler {
  const access = { requirement: { scopes } }
  return guard('requireScopes', () => access)
}

/**
 * Requires app roles (`roles`): any of them.
 *
 * @example
 * app.get('/stocks', requireRoles('Stocks.Read'), handler)
 */
export function requireRoles(...roles: string[]): RequestHandler {
  const access = { requirement: { roles } }
  return guard('requireRoles', () => access)
}

/**
 * Requires scopes and/or roles; with both, user tokens need a scope and app tokens a role.
 *
 * @example
 * app.get('/quotes', requireAuth({ scopes: ['Quotes.Read'], roles: ['Quotes.Read.All'] }), handler)
 */
export function requireAuth(requirement: Requirement = {}): RequestHandler {
  const access = { requirement }
  return guard('requireAuth', () => access)
}

/**
 * Requires an RBAC permission on a resource computed from the request. A denial is `forbidden` (403).
 *
 * @example
 * app.delete('/stocks/:symbol', requirePermission(policy, 'stocks/delete', (req) => `/stocks/${req.params.symbol}`), handler)
 */
export function requirePermission(
  policy: Policy,
  action: string,
  resource: (req: Request) => string,
): RequestHandler {
  return guard('requirePermission', (req) => ({ permission: { policy, action, resource: resource(req) } }))
}

/**
 * Renders an {@link AuthError} as JSON `{ error, error_description }` with its status and headers; passes
 * other errors on.
 *
 * @example
 * app.use(authErrorHandler())
 */
export function authErrorHandler(): ErrorRequestHandler {
  return function entraAuthErrorHandler(
    err: unknown,
    _req: Request,
    res: Response,
    next: NextFunction,
  ): void {
    if (!isAuthError(err) || res.headersSent) {
      next(err)
      return
    }
    res.status(err.status).set(err.headers).json(err.toJSON())
  }
}

export { AuthError, type Principal } from '@entraguard/core'
