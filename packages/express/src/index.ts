import {
  type Access,
  type AccessContext,
  AuthError,
  authenticate,
  authorize,
  ConfigurationError,
  isAuthError,
  type Policy,
  type Principal,
  type Requirement,
  type ResourceMetadata,
  useValidator,
  type Validator,
  type ValidatorSource,
} from '@entraguard/core'
import type { ErrorRequestHandler, NextFunction, Request, RequestHandler, Response } from 'express'

declare global {
  namespace Express {
    interface Request {
      /** The validated caller, set by `entraAuth()`. Unset for anonymous requests on `optional: true`. */
      auth?: Principal
    }
  }
}

/** Options of {@link entraAuth}: validator options, or a validator you created. */
export type EntraAuthOptions = ValidatorSource & {
  /** Let requests *without* a token through with `req.auth` unset. A bad token is still refused. */
  optional?: boolean
}

const VALIDATOR = Symbol.for('entraguard.validator')
type WithValidator = Request & { [VALIDATOR]?: Validator }

/**
 * Express middleware that validates the bearer token and sets `req.auth`. Failures go to `next(err)` as an
 * {@link AuthError} carrying `status` and `headers`, so Express's error handler answers 401/400/503 with
 * `WWW-Authenticate`.
 *
 * @example
 * app.use(entraAuth({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' }))
 */
export function entraAuth(options: EntraAuthOptions): RequestHandler {
  const { optional = false, ...rest } = options
  const { validator } = useValidator(rest as ValidatorSource)
  const mode = { optional }
  const metadata = validator.resourceMetadata
  return function entraAuthMiddleware(req: Request, res: Response, next: NextFunction): void {
    if (metadata !== undefined && metadata.paths.includes(req.path)) {
      serveMetadata(metadata, req, res)
      return
    }
    ;(req as WithValidator)[VALIDATOR] = validator
    authenticate(validator, { headers: req.rawHeaders, url: req.url, body: req.body }, mode).then(
      (principal) => {
        if (principal !== undefined) req.auth = principal
        next()
      },
      next,
    )
  }
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

function guard(name: string, access: (req: Request) => Access): RequestHandler {
  return function entraGuard(req: Request, _res: Response, next: NextFunction): void {
    const validator = (req as WithValidator)[VALIDATOR]
    if (validator === undefined) {
      next(
        new Error(
          `entraguard: ${name}() runs before entraAuth(); add app.use(entraAuth(...)) (or put it on the router) ahead of this route`,
        ),
      )
      return
    }
    const principal = req.auth
    if (principal === undefined) {
      next(
        new AuthError('missing_token', {
          description: 'No bearer token was sent',
          detail: `${name}() needs a token; this request came without one (entraAuth optional mode)`,
        }),
      )
      return
    }
    try {
      authorize(principal, access(req), contextOf(req), validator)
      next()
    } catch (err) {
      next(err)
    }
  }
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
