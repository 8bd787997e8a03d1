// AFTER: the API of before.ts on entraguard. docs/migrating-from-passport-azure-ad.md maps each
// BearerStrategy option; test/migration.test.ts runs both apps against the emulator.
import type { ValidatorOptions } from '@entraguard/core'
import { authErrorHandler, entraAuth, requireRoles, requireScopes } from '@entraguard/express'
import express, { type Express } from 'express'

/** Where the API lives: its tenant and its client ID (and, for the emulator, the authority). */
export interface AfterConfig {
  tenant: string
  clientId: string
  /**
   * The App ID URI (`api://stock-api`): set it to accept v1 tokens too, whose `aud` it is. Managed-identity
   * tokens are v1 unless the API's manifest says `requestedAccessTokenVersion: 2`.
   */
  appIdUri?: string
  /** Leave out on Azure; the emulator's URL locally. */
  authority?: string
}

/** The stock API on entraguard: /stocks for VMs with the app role, /me for users with the scope. */
export function createAfterApp(config: AfterConfig): Express {
  const options: ValidatorOptions = {
    tenant: config.tenant, // identityMetadata + validateIssuer + issuer
    // clientID + audience; a v2.0 identityMetadata took v2 tokens only, which tokenVersions keeps
    ...(config.appIdUri === undefined
      ? { audience: config.clientId, tokenVersions: [2] }
      : { audience: [config.clientId, config.appIdUri], tokenVersions: [1, 2] }),
    clockTolerance: 300, // clockSkew
    ...(config.authority === undefined ? {} : { authority: config.authority }),
  }
  const app = express()
  app.use(entraAuth(options))
  app.get('/stocks', requireRoles('Stocks.Read'), (req, res) => {
    res.json({ stocks: ['AAPL', 'MSFT'], caller: req.auth?.clientId })
  })
  app.get('/me', requireScopes('Stocks.Read'), (req, res) => {
    res.json({ name: req.auth?.name })
  })
  app.use(authErrorHandler())
  return app
}
