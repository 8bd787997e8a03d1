// The smallest useful entraguard API with Fastify: copy it, set the environment, run it.
//   TENANT_ID=<tenant id or domain> API_AUDIENCE=api://my-api PORT=3000 node minimal-fastify.js
import { entraAuth } from '@entraguard/fastify'
import Fastify from 'fastify'

const app = Fastify()
await app.register(entraAuth, {
  tenant: process.env.TENANT_ID ?? '',
  audience: (process.env.API_AUDIENCE ?? '').split(','),
  ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
})

app.get('/health', { config: { auth: false } }, async () => ({ ok: true }))

// App-only callers (VMs with managed identities) need the app role...
app.get('/stocks', { config: { auth: { roles: ['Stocks.Read'] } } }, async (req) => ({
  stocks: ['AAPL', 'MSFT'],
  caller: req.auth?.clientId,
}))
// ...users calling through a client app need the delegated scope.
app.get('/me', { config: { auth: { scopes: ['Stocks.Read'] } } }, async (req) => ({ name: req.auth?.name }))

const address = await app.listen({ port: Number(process.env.PORT ?? 3000), host: '127.0.0.1' })
console.log(`listening on ${address}`)
