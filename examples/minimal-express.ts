// The smallest useful entraguard API with Express: copy it, set the environment, run it.
//   TENANT_ID=<tenant id or domain> API_AUDIENCE=api://my-api PORT=3000 node minimal-express.js
import { authErrorHandler, entraAuth, requireRoles, requireScopes } from '@entraguard/express'
import express from 'express'

const app = express()
app.get('/health', (_req, res) => {
  res.json({ ok: true })
})

app.use(
  entraAuth({
    tenant: process.env.TENANT_ID ?? '',
    audience: (process.env.API_AUDIENCE ?? '').split(','),
    ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
  }),
)

// App-only callers (VMs with managed identities) need the app role...
app.get('/stocks', requireRoles('Stocks.Read'), (req, res) => {
  res.json({ stocks: ['AAPL', 'MSFT'], caller: req.auth?.clientId })
})
// ...users calling through a client app need the delegated scope.
app.get('/me', requireScopes('Stocks.Read'), (req, res) => {
  res.json({ name: req.auth?.name })
})

app.use(authErrorHandler())
const server = app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
  const address = server.address()
  console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : ''}`)
})
