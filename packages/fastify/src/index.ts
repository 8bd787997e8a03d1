import {
  type Access,
  type AccessContext,
  type AuthError,
  authorize,
  ConfigurationError,
  formatPreflight,
  isAuthError,
  type Policy,
  type Principal,
  type ResourceMetadata,
  useValidator,
  type Validator,
  type ValidatorSource,
} from '@entraguard/core'
import { authenticateNow } from '@entraguard/core/internal'
import type {
  FastifyInstance,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  HookHandlerDoneFunction,
  RouteOptions,
} from 'fastify'
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
      /** This route's report-only mode, whatever the plugin's: report refusals and let the request on, or enforce. */
      reportOnly?: boolean
    }

/** Options of the {@link entraAuth} plugin. */
export type EntraAuthPluginOptions = ValidatorSource & {
  /** What routes without `config.auth` need; by default a valid token (`{}`). */
  defaultRequirement?: RouteAuth
  /** Let requests *without* a token through on routes whose requirement is empty. A bad token is still refused. */
  optional?: boolean
  /** The RBAC policy for `config.auth.permission`. */
  policy?: Policy
  /**
   * Report-only roll-out: refusals are reported as `token.would_reject` / `access.would_deny` events and the
   * handler runs (`request.auth` null when the token was refused). Default: the validator's `reportOnly`;
   * `config.auth.reportOnly` sets it per route.
   */
  reportOnly?: boolean | undefined
  /**
   * Run `validator.preflight()` at registration: `'warn'` logs its problems (`app.log.warn`); `'fail'` makes
   * `ready()` / `listen()` reject when one is an error. Default `false`.
   */
  preflight?: 'warn' | 'fail' | false | undefined
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
      reportOnly: z.boolean().optional(),
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

/** A route requirement compiled once, at registration: `false` for a public route. */
type Compiled =
  | false
  | { optional: boolean; reportOnly: boolean; access: (request: FastifyRequest) => Access }

function compile(auth: unknown, where: string, policy: Policy | undefined, reportOnly: boolean): Compiled {
  const parsed = routeAuthSchema.safeParse(auth)
  if (!parsed.success) {
    const problems = parsed.error.issues
      .map((i) => `${['auth', ...i.path].join('.')}: ${i.message}`)
      .join('; ')
    throw new ConfigurationError(`entraguard: invalid auth requirement on ${where}: ${problems}`)
  }
  const a = parsed.data
  if (a === false) return false
  const { permission, resource } = a
  const report = a.reportOnly ?? reportOnly
  if (permission !== undefined && policy === undefined) {
    throw new ConfigurationError(
      `entraguard: ${where} requires permission '${permission}' but no policy was given: register the plugin with { policy }`,
    )
  }
  const needsCheck = (a.scopes?.length ?? 0) > 0 || (a.roles?.length ?? 0) > 0
  const fixed: Access = { requirement: { scopes: a.scopes, roles: a.roles, match: a.match } }
  if (permission === undefined || resource === undefined || policy === undefined) {
    return { optional: !needsCheck, reportOnly: report, access: () => fixed }
  }
  return {
    optional: false,
    reportOnly: report,
    access: (request) => ({
      requirement: fixed.requirement,
      permission: {
        policy,
        action: permission,
        resource: typeof resource === 'string' ? resource : resource(request),
      },
    }),
  }
}

const COMPILED = Symbol.for('entraguard.compiled')

// Fastify's default error handler would answer with its own body shape; we send the same
// `{ error, error_description }` body, status and headers as the Express adapter.
function reject(reply: FastifyReply, err: AuthError): FastifyReply {
  return reply.code(err.status).headers(err.headers).send(err.toJSON())
}

// HEAD comes with GET (Fastify's exposeHeadRoutes); other methods get the document's 405 like elsewhere.
const METADATA_METHODS = ['GET', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE']

function serveMetadata(app: FastifyInstance, metadata: ResourceMetadata): void {
  for (const url of metadata.paths) {
    app.route({
      method: METADATA_METHODS,
      url,
      config: { auth: false },
      handler: async (request, reply) => {
        const answer = metadata.respond(request.method)
        return reply.code(answer.status).headers(answer.headers).send(answer.body)
      },
    })
  }
}

const plugin: FastifyPluginAsync<EntraAuthPluginOptions> = async (app: FastifyInstance, options) => {
  const {
    defaultRequirement = {},
    optional = false,
    policy,
    reportOnly: report,
    preflight = false,
    ...rest
  } = options
  const { validator, owned } = useValidator(rest as ValidatorSource)
  if (preflight !== false) await runPreflight(app, validator, preflight === 'fail', owned)
  const reportOnly = report ?? validator.reportOnly === true
  const fallback = compile(defaultRequirement, 'defaultRequirement', policy, reportOnly)

  app.decorateRequest('auth', null)
  app.addHook('onRoute', (route: RouteOptions) => {
    const config = (route.config ?? {}) as Record<string | symbol, unknown>
    const compiled =
      config.auth === undefined
        ? fallback
        : compile(config.auth, `${String(route.method)} ${route.url}`, policy, reportOnly)
    route.config = { ...config, [COMPILED]: compiled } as unknown as NonNullable<RouteOptions['config']>
  })
  app.addHook('onClose', async () => {
    if (owned) validator.close()
  })
  if (validator.resourceMetadata !== undefined) serveMetadata(app, validator.resourceMetadata)

  // A callback hook, not an async one: a known token is answered with no promise in the request's path.
  app.addHook('onRequest', (request, reply, done) => {
    // routeOptions is a getter that builds a dozen-field object on every read: read it once.
    const route = request.routeOptions
    const config = route.config as unknown as Record<string | symbol, unknown> | undefined
    const requirement = (config?.[COMPILED] as Compiled | undefined) ?? fallback
    if (requirement === false) {
      done()
      return
    }
    const context: AccessContext = { method: request.method, route: route.url }
    // Runs before Fastify parses the body (unauthenticated bodies are never parsed), so the body check only
    // sees a body that an earlier hook parsed; the query check always applies.
    const outcome = authenticateNow(
      validator,
      { headers: request.raw.rawHeaders, url: request.url, body: request.body },
      { optional: optional && requirement.optional, reportOnly: requirement.reportOnly, context },
    )
    if (outcome instanceof Promise) {
      outcome.then(
        (principal) => admit(request, reply, done, requirement, context, principal),
        (err: unknown) => refuse(reply, done, err),
      )
    } else if (outcome instanceof Error) refuse(reply, done, outcome)
    else admit(request, reply, done, requirement, context, outcome)
  })

  function admit(
    request: FastifyRequest,
    reply: FastifyReply,
    done: HookHandlerDoneFunction,
    requirement: Exclude<Compiled, false>,
    context: AccessContext,
    principal: Principal | undefined,
  ): void {
    if (principal !== undefined) {
      request.auth = principal
      try {
        authorize(principal, requirement.access(request), context, validator, requirement)
      } catch (err) {
        refuse(reply, done, err)
        return
      }
    }
    done()
  }
}

// An AuthError is answered here; anything else is a fault for Fastify's error handler (a 500).
function refuse(reply: FastifyReply, done: HookHandlerDoneFunction, err: unknown): void {
  if (isAuthError(err)) reject(reply, err)
  else done(err as Error)
}

async function runPreflight(
  app: FastifyInstance,
  validator: Validator,
  fail: boolean,
  owned: boolean,
): Promise<void> {
  const report = await validator.preflight()
  if (report.problems.length === 0) return
  const text = formatPreflight(report)
  if (fail && !report.ok) {
    // The plugin never finishes registering, so its onClose hook would not stop the key refresh timer.
    if (owned) validator.close()
    throw new ConfigurationError(text)
  }
  app.log.warn(text)
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

/**
 * Serves the validator's RFC 9728 protected-resource metadata at its paths, for apps that register
 * `entraAuth` inside a prefixed plugin. `entraAuth` registered at the root serves it by itself.
 *
 * @example
 * await app.register(resourceMetadataHandler(validator))
 */
export function resourceMetadataHandler(validator: Validator): FastifyPluginAsync {
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      'entraguard: resourceMetadataHandler() needs a validator created with the resourceMetadata option',
    )
  }
  return fp(async (app: FastifyInstance) => serveMetadata(app, metadata), {
    name: '@entraguard/fastify/resource-metadata',
    fastify: '4.x || 5.x',
  })
}
export default entraAuth
export { AuthError, type Principal } from '@entraguard/core'
