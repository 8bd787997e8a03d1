// One contender behind Fastify, in its own process (pinned to one core by run.ts), in the same shape as
// server.ts: GET /stocks requiring app role Stocks.Read, GET /__cpu for the process CPU time.
// argv[2] = contender (fastify, fastify-with-token, fastify-entraguard, fastify-bare-crypto, fastify-jwt+get-jwks,
// fastify-auth0-verify); fastify-with-token is Fastify without auth whose requests carry the token (the
// header-only baseline). Each contender's packages are imported on use only, as in server.ts.
import Fastify, { type FastifyReply, type FastifyRequest } from 'fastify'
import { bareVerifier, bearerOf, hasRole } from './floor.js'
import { benchConfig, countMajorGcs, scavenge } from './setup.js'

const contender = process.argv[2] ?? 'fastify'
const c = benchConfig()
const majorGcs = countMajorGcs()
const app = Fastify({ logger: false })
type Hook = (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>
let onRequest: Hook | undefined
let routeConfig: Record<string, unknown> = {}

const deny = (reply: FastifyReply, status = 401) =>
  reply.code(status).header('www-authenticate', 'Bearer').send()
// Verified by a fast-jwt based plugin (request.jwtVerify / app.authenticate), then the role.
const roleOf = (request: FastifyRequest, reply: FastifyReply) =>
  hasRole(request.user as object | undefined) ? undefined : deny(reply, 403)

switch (contender) {
  case 'fastify':
  case 'fastify-with-token':
    break
  case 'fastify-entraguard': {
    const { entraAuth } = await import('@entraguard/fastify')
    await app.register(entraAuth, { tenant: c.tenant, audience: c.audience, authority: c.authority })
    routeConfig = { auth: { roles: ['Stocks.Read'] } }
    break
  }
  case 'fastify-bare-crypto': {
    const verify = await bareVerifier(c)
    onRequest = async (request, reply) => {
      const payload = verify(bearerOf(request.headers.authorization))
      if (payload === undefined) return deny(reply)
      if (!hasRole(payload)) return deny(reply, 403)
      return undefined
    }
    break
  }
  case 'fastify-jwt+get-jwks': {
    // As @fastify/jwt's README pairs it with get-jwks; the key set address is fixed (the emulator is not at the issuer).
    const { default: fastifyJwt } = await import('@fastify/jwt')
    const { default: buildGetJwks } = await import('get-jwks')
    const domain = c.jwksUri.replace(/\/discovery\/v2\.0\/keys$/, '')
    const getJwks = buildGetJwks({ jwksPath: '/discovery/v2.0/keys' })
    await app.register(fastifyJwt, {
      decode: { complete: true },
      secret: (_request: unknown, token: { header: { kid?: string; alg?: string } }) =>
        getJwks.getPublicKey({ kid: token.header.kid as string, alg: token.header.alg as string, domain }),
      verify: { allowedIss: c.issuer, allowedAud: c.audience, algorithms: ['RS256'] },
    } as never)
    onRequest = async (request, reply) => {
      try {
        await request.jwtVerify()
      } catch {
        return deny(reply)
      }
      return roleOf(request, reply)
    }
    break
  }
  case 'fastify-auth0-verify': {
    // The plugin reads `${domain}.well-known/jwks.json`; a trailing `?` turns that suffix into a query string.
    const { default: fastifyAuth0Verify } = await import('fastify-auth0-verify')
    await app.register(fastifyAuth0Verify, {
      domain: `${c.jwksUri}?`,
      audience: c.audience,
      issuer: c.issuer,
    })
    const authenticate = (app as unknown as { authenticate: (r: FastifyRequest) => Promise<void> })
      .authenticate
    onRequest = async (request, reply) => {
      try {
        await authenticate(request)
      } catch {
        return deny(reply)
      }
      return roleOf(request, reply)
    }
    break
  }
  default:
    throw new Error(`unknown contender ${contender}`)
}

app.get('/__cpu', { config: { auth: false } as never }, async () => process.cpuUsage())
// Heap used, after a scavenge for /__gc (node --expose-gc), and the major GCs so far: http-count.ts brackets its
// windows with them.
app.get('/__gc', { config: { auth: false } as never }, async () => {
  scavenge()
  return process.memoryUsage().heapUsed
})
app.get('/__heap', { config: { auth: false } as never }, async () => process.memoryUsage().heapUsed)
app.get('/__majors', { config: { auth: false } as never }, async () => majorGcs())
app.get(
  '/stocks',
  { config: routeConfig as never, ...(onRequest === undefined ? {} : { onRequest }) },
  async () => ({ symbol: 'MSFT', price: 497.1 }),
)
await app.listen({ port: 0, host: '127.0.0.1' })
const address = app.server.address()
console.log(`listening on ${typeof address === 'object' && address ? address.port : ''}`)
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0))
