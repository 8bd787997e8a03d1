// BEFORE: a stock API on passport-azure-ad's BearerStrategy (archived in 2023, deprecated on npm).
// docs/migrating-from-passport-azure-ad.md walks through it option by option; after.ts is the same API
// on entraguard, and test/migration.test.ts runs both against the emulator with the same requests.
//
// Passport and the strategy are passed in because this repository installs them for the migration
// test only; in your app they are the usual `import passport from 'passport'` and
// `import { BearerStrategy } from 'passport-azure-ad'`.
import express, { type Express, type Request, type RequestHandler } from 'express'

/** Where the API lives: its tenant, its client ID, and the v2.0 metadata document of the tenant. */
export interface BeforeConfig {
  tenant: string
  clientId: string
  /** `https://login.microsoftonline.com/<tenant>/v2.0/.well-known/openid-configuration` on Azure. */
  identityMetadata: string
}

/** What the API reads from the token passport-azure-ad hands to the verify callback. */
export interface BearerToken {
  oid?: string
  azp?: string
  appid?: string
  name?: string
  roles?: string[]
  scp?: string
}

/** The BearerStrategy options this API sets (every one the migration guide covers). */
export interface BearerStrategyOptions {
  identityMetadata: string
  clientID: string
  audience?: string | string[]
  validateIssuer?: boolean
  issuer?: string | string[]
  isB2C?: boolean
  scope?: string[]
  loggingLevel?: 'info' | 'warn' | 'error'
  loggingNoPII?: boolean
  passReqToCallback?: false
  clockSkew?: number
}

/** The parts of `passport` and `passport-azure-ad` this app uses (neither ships TypeScript types). */
export interface PassportModules {
  Passport: new () => {
    use(name: string, strategy: unknown): void
    initialize(): RequestHandler
    authenticate(name: string, options: { session: false }): RequestHandler
  }
  BearerStrategy: new (
    options: BearerStrategyOptions,
    verify: (token: BearerToken, done: (err: unknown, user?: BearerToken) => void) => void,
  ) => unknown
}

/** The stock API as it was: /stocks for VMs with the app role, /me for users with the scope. */
export function createBeforeApp(
  config: BeforeConfig,
  { Passport, BearerStrategy }: PassportModules,
): Express {
  const passport = new Passport()
  const options: BearerStrategyOptions = {
    identityMetadata: config.identityMetadata,
    clientID: config.clientId,
    audience: config.clientId, // v2 tokens carry the client ID; v1 tokens (api://...) are not accepted here
    validateIssuer: true, // the issuer comes from the tenant's metadata
    isB2C: false,
    loggingLevel: 'error',
    loggingNoPII: true,
    passReqToCallback: false,
    clockSkew: 300,
  }
  const verify = (token: BearerToken, done: (err: unknown, user?: BearerToken) => void) => done(null, token)
  passport.use('oauth-bearer', new BearerStrategy(options, verify))
  // `scope` applies to every token the strategy sees, so user routes need a second strategy.
  passport.use('oauth-bearer-user', new BearerStrategy({ ...options, scope: ['Stocks.Read'] }, verify))

  const app = express()
  app.use(passport.initialize())
  const user = (req: Request) => (req as Request & { user?: BearerToken }).user ?? {}

  app.get('/stocks', passport.authenticate('oauth-bearer', { session: false }), (req, res) => {
    // BearerStrategy has no roles option: every app checks them by hand.
    if (!user(req).roles?.includes('Stocks.Read')) {
      res.status(403).json({ error: 'forbidden' })
      return
    }
    res.json({ stocks: ['AAPL', 'MSFT'], caller: user(req).azp ?? user(req).appid })
  })
  app.get('/me', passport.authenticate('oauth-bearer-user', { session: false }), (req, res) => {
    res.json({ name: user(req).name })
  })
  return app
}
