import {
  type AccessContext,
  AuthError,
  ConfigurationError,
  check,
  createValidator,
  type Decision,
  enforce,
  isAuthError,
  type Policy,
  type Principal,
  type Validator,
  type ValidatorOptions,
} from '@entraguard/core'
import type { FastifyInstance, FastifyPluginAsync, FastifyReply, FastifyRequest, RouteOptions } from 'fastify'
import fp from 'fastify-plugin'
import { z } from 'zod'

/** What a route needs, in `config: { auth: ... }`. `false` marks a public route. */
export type RouteAuth =
  | false
  | {
      scopes?: string[]
      roles?: string[]
      match?: 'any' | 'all'
      /** An RBAC action checked with the `policy` given at register. */
      permission?: string
      /** The resource path for `permission`: a fixed path or computed from the request. */
      resource?: string | ((request: FastifyRequest) => string)
    }

/** Options of the {@link entraAuth} plugin. */
export type EntraAuthPluginOptions = (ValidatorOptions | { validator: Validator }) & {
  /** What routes without `config.auth` need; by default a valid token (`{}`). */
  defaultRequirement?: RouteAuth
  /** Let requests *without* a token through on routes whose requirement is empty. A bad token is still refused. */
  optional?: boolean
  /** The RBAC policy for `config.auth.permission`. */
  policy?: Policy
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The validated caller; null on public routes and anonymous optional requests. */
    auth: Principal | null
  }
  interface FastifyContextConfig {
    /** entraguard's requirement for this route; `false` for a public route. */
    auth?: RouteAuth
  }
}

const routeAuthSchema = z.union([
  z.literal(false),
  z
    .object({
      scopes: z.array(z.string().min(1)).optional(),
      roles: z.array(z.string().min(1)).optional(),
      match: z.enum(['any', 'all']).optional(),
      permission: z.string().min(1).optional(),
      resource: z
        .union([
          z.string().startsWith('/'),
          z.custom<(r: FastifyRequest) => string>((v) => typeof v === 'function'),
        ])
        .optional(),
    })
    .strict()
    .refine((a) => (a.permission === undefined) === (a.resource === undefined), {
      error: 'permission and resource go together: the action and the resource path it applies to',
    }),
])

/** A route requirement compiled once, at registration. */
type Compiled =
  | false
  | ((principal: Principal, request: FastifyRequest, context: AccessContext) => Decision | undefined)

function compile(auth: unknown, where: string, policy: Policy | undefined): Compiled {
  const parsed = routeAuthSchema.safeParse(auth)
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${['auth', ...i.path].join('.')}: ${i.message}`)
      .join('; ')
    throw new ConfigurationError(`entraguard: invalid auth requirement on ${where}: ${problems}`)
  }
  const a = parsed.data
  if (a === false) return false
  const requirement = { scopes: a.scopes, roles: a.roles, match: a.match }
  const needsCheck = (a.scopes?.length ?? 0) > 0 || (a.roles?.length ?? 0) > 0
  const { permission, resource } = a
  if (permission !== undefined && policy === undefined) {
    throw new ConfigurationError(
      `entraguard: ${where} requires permission '${permission}' but no policy was given: register the plugin with { policy }`,
    )
  }
  return (principal, request, context) => {
    if (needsCheck) {
      const decision = check(principal, requirement)
      if (!decision.allowed || permission === undefined) return decision
    }
    if (permission === undefined || resource === undefined || policy === undefined) return undefined
    context.action = permission
    context.resource = typeof resource === 'string' ? resource : resource(request)
    return policy.authorize(principal, permission, context.resource)
  }
}

const COMPILED = Symbol.for('entraguard.compiled')

function countAuthorization(raw: string[]): { count: number; value: string | undefined } {
  let count = 0
  let value: string | undefined
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).toLowerCase() === 'authorization') {
      count++
      value = raw[i + 1]
    }
  }
  return { count, value }
}

// Runs in onRequest, before Fastify parses the body (so unauthenticated bodies are never parsed): the
// body check only sees a body that another hook parsed earlier; the query check always applies.
function tokenElsewhere(request: FastifyRequest): boolean {
  const q = request.url.indexOf('?')
  if (q !== -1 && new URLSearchParams(request.url.slice(q + 1)).has('access_token')) return true
  const body = request.body
  return typeof body === 'object' && body !== null && Object.hasOwn(body, 'access_token')
}

function authorization(request: FastifyRequest): string | undefined {
  const { count, value } = countAuthorization(request.raw.rawHeaders)
  if (count > 1) {
    throw new AuthError('malformed_request', {
      description: 'The request carries more than one Authorization header',
      detail: `${count} Authorization headers; send exactly one`,
    })
  }
  if (value !== undefined && tokenElsewhere(request)) {
    throw new AuthError('malformed_request', {
      description: 'The token was sent in more than one way',
      detail:
        'A token arrived in the Authorization header and also as access_token in the query or body; RFC 6750 allows exactly one method',
    })
  }
  return value
}

// Fastify's default error handler would answer with its own body shape; we send the same
// `{ error, error_description }` body, status and headers as the Express adapter.
function reject(reply: FastifyReply, err: AuthError): FastifyReply {
  return reply.code(err.status).headers(err.headers).send(err.toJSON())
}

const plugin: FastifyPluginAsync<EntraAuthPluginOptions> = async (app: FastifyInstance, options) => {
  const { defaultRequirement = {}, optional = false, policy, ...rest } = options
  const validator = 'validator' in rest ? rest.validator : createValidator(rest as ValidatorOptions)
  const fallback = compile(defaultRequirement, 'defaultRequirement', policy)

  app.decorateRequest('auth', null)
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config ?? {}) as Record<string | symbol, unknown>
    const compiled =
      config.auth === undefined
        ? fallback
        : compile(config.auth, `${String(route.method)} ${route.url}`, policy)
    route.config = { ...config, [COMPILED]: compiled } as unknown as NonNullable<RouteOptions['config']>
  })
  app.addHook('onClose', async () => {
    if (!('validator' in rest)) validator.close()
  })

  app.addHook('onRequest', async (request, reply) => {
    const config = request.routeOptions.config as unknown as Record<string | symbol, unknown> | undefined
    const requirement = (config?.[COMPILED] as Compiled | undefined) ?? fallback
    if (requirement === false) return
    const context: AccessContext = { method: request.method, route: request.routeOptions.url }
    let principal: Principal
    try {
      const header = authorization(request)
      if (header === undefined && optional) return
      principal = await validator.validate(header)
    } catch (err) {
      if (!isAuthError(err)) throw err
      if (optional && err.code === 'missing_token') return
      return reject(reply, err)
    }
    request.auth = principal
    const decision = requirement(principal, request, context)
    if (decision === undefined) return
    try {
      enforce(decision, principal, context, (e) => validator.emit(e))
    } catch (err) {
      if (!isAuthError(err)) throw err
      return reject(reply, err)
    }
  })
}

/**
 * Fastify plugin: validates bearer tokens in `onRequest`, decorates `request.auth`, and enforces the
 * requirement in each route's `config.auth` (compiled once per route at registration).
 *
 * @example
 * await app.register(entraAuth, { tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' })
 * app.get('/stocks', { config: { auth: { roles: ['Stocks.Read'] } } }, handler)
 */
export const entraAuth = fp(plugin, { name: '@entraguard/fastify', fastify: '4.x || 5.x' })
export default entraAuth
export { AuthError, type Principal } from '@entraguard/core'
