// One contender behind Express, in its own process (pinned to one core by run.ts).
// argv[2] = contender; env BENCH_CONFIG = JSON { authority, tenant, issuer, jwksUri, audience, metadataUrl }.
// Each contender's packages are imported on use only: a server loads what it measures (and starts sooner
// under valgrind, see http-count.ts).
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express'
import { bareVerifier, bearerOf, decodeOnly, hasRole } from './floor.js'
import { benchConfig, countMajorGcs, scavenge } from './setup.js'

const contender = process.argv[2] ?? 'express'
const c = benchConfig()
const majorGcs = countMajorGcs()

const bearer = (req: Request) => /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1]
const deny = (res: Response, status = 401) => res.status(status).set('WWW-Authenticate', 'Bearer').end()

async function chain(): Promise<RequestHandler[]> {
  switch (contender) {
    case 'express':
    case 'express-with-token':
      return []
    case 'express-decode-only':
      return [
        (req, res, next) => {
          const payload = decodeOnly(bearerOf(req.headers.authorization))
          if (payload === undefined) deny(res)
          else if (hasRole(payload)) next()
          else deny(res, 403)
        },
      ]
    case 'express-bare-crypto': {
      const verify = await bareVerifier(c)
      return [
        (req, res, next) => {
          const payload = verify(bearerOf(req.headers.authorization))
          if (payload === undefined) deny(res)
          else if (hasRole(payload)) next()
          else deny(res, 403)
        },
      ]
    }
    case 'entraguard-noguard': {
      const { entraAuth } = await import('@entraguard/express')
      return [entraAuth({ tenant: c.tenant, audience: c.audience, authority: c.authority })]
    }
    case 'entraguard': {
      const { entraAuth, requireRoles } = await import('@entraguard/express')
      return [
        entraAuth({ tenant: c.tenant, audience: c.audience, authority: c.authority }),
        requireRoles('Stocks.Read'),
      ]
    }
    case 'jose': {
      const { createRemoteJWKSet, jwtVerify } = await import('jose')
      const jwks = createRemoteJWKSet(new URL(c.jwksUri))
      return [
        (req, res, next) => {
          jwtVerify(bearer(req) ?? '', jwks, {
            issuer: c.issuer,
            audience: c.audience,
            algorithms: ['RS256'],
            requiredClaims: ['exp'],
          }).then(
            ({ payload }) => (hasRole(payload) ? next() : deny(res, 403)),
            () => deny(res),
          )
        },
      ]
    }
    case 'express-oauth2-jwt-bearer': {
      const { auth: auth0, claimIncludes } = await import('express-oauth2-jwt-bearer')
      return [
        auth0({ issuer: c.issuer, jwksUri: c.jwksUri, audience: c.audience, tokenSigningAlg: 'RS256' }),
        claimIncludes('roles', 'Stocks.Read'),
      ]
    }
    case 'express-jwt+jwks-rsa': {
      const { expressjwt } = await import('express-jwt')
      const { default: jwksRsa } = await import('jwks-rsa')
      return [
        expressjwt({
          secret: jwksRsa.expressJwtSecret({ cache: true, rateLimit: true, jwksUri: c.jwksUri }) as never,
          audience: c.audience,
          issuer: c.issuer,
          algorithms: ['RS256'],
        }),
        (req, res, next) =>
          hasRole((req as unknown as { auth: { roles?: unknown } }).auth) ? next() : deny(res, 403),
      ]
    }
    case 'aws-jwt-verify': {
      const { JwtRsaVerifier } = await import('aws-jwt-verify')
      const verifier = JwtRsaVerifier.create({ issuer: c.issuer, audience: c.audience, jwksUri: c.jwksUri })
      return [
        (req, res, next) => {
          verifier.verify(bearer(req) ?? '').then(
            (payload) => (hasRole(payload as { roles?: unknown }) ? next() : deny(res, 403)),
            () => deny(res),
          )
        },
      ]
    }
    case 'passport-azure-ad': {
      const { default: passport } = await import('passport')
      const { BearerStrategy } = await import('passport-azure-ad')
      passport.use(
        new BearerStrategy(
          {
            identityMetadata: c.metadataUrl,
            clientID: c.audience,
            validateIssuer: true,
            issuer: c.issuer,
            loggingLevel: 'error',
            loggingNoPII: true,
          },
          (token: never, done: (err: unknown, user?: unknown) => void) => done(null, token),
        ),
      )
      return [
        passport.initialize() as RequestHandler,
        passport.authenticate('oauth-bearer', { session: false }) as RequestHandler,
        (req, res, next) => (hasRole((req as unknown as { user?: object }).user) ? next() : deny(res, 403)),
      ]
    }
    default:
      throw new Error(`unknown contender ${contender}`)
  }
}

const app = express()
// CPU time of this process, read by run.ts before and after each load: CPU per request is far less
// sensitive to other work on a shared machine than requests per second.
app.get('/__cpu', (_req: Request, res: Response) => {
  res.json(process.cpuUsage())
})
// Heap used, after a scavenge for /__gc (node --expose-gc), and the major GCs so far: http-count.ts brackets its
// windows with them.
app.get('/__gc', (_req: Request, res: Response) => {
  scavenge()
  res.json(process.memoryUsage().heapUsed)
})
app.get('/__majors', (_req: Request, res: Response) => {
  res.json(majorGcs())
})
app.get('/__heap', (_req: Request, res: Response) => {
  res.json(process.memoryUsage().heapUsed)
})
app.get('/stocks', ...(await chain()), (_req: Request, res: Response) => {
  res.json({ symbol: 'MSFT', price: 497.1 })
})
app.use((err: { status?: number }, _req: Request, res: Response, _next: NextFunction) => {
  res.status(err.status ?? 401).end()
})
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening on ${typeof address === 'object' && address ? address.port : ''}`)
})
// Exit cleanly on SIGINT/SIGTERM so `--cpu-prof` can write its profile.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(0))
