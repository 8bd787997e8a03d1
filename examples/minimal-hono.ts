// The smallest useful entraguard API with Hono: copy it, set the environment, run it.
//   TENANT_ID=<tenant id or domain> API_AUDIENCE=api://my-api PORT=3000 node minimal-hono.js
import { entraAuth, requireRoles, requireScopes } from '@entraguard/hono'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'

const app = new Hono()
app.get('/health', (c) => c.json({ ok: true }))

app.use(
  entraAuth({
    tenant: process.env.TENANT_ID ?? '',
    audience: (process.env.API_AUDIENCE ?? '').split(','),
    ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
  }),
)

// App-only callers (VMs with managed identities) need the app role...
app.get('/stocks', requireRoles('Stocks.Read'), (c) =>
  c.json({ stocks: ['AAPL', 'MSFT'], caller: c.get('auth').clientId }),
)
// ...users calling through a client app need the delegated scope.
app.get('/me', requireScopes('Stocks.Read'), (c) => c.json({ name: c.get('auth').name }))

// On Bun or Deno: `export default app` (Bun.serve / Deno.serve take app.fetch) instead of serve().
serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`)
})
