// The smallest useful entraguard Azure Functions app (v4 model): copy it to src/functions/ and deploy it, or
// try it here: TENANT_ID=<tenant> API_AUDIENCE=api://my-api PORT=3000 node minimal-azure-functions.js
import { createServer } from 'node:http'
import azf, { app, type HttpHandler } from '@azure/functions'
import { withEntraAuth } from '@entraguard/azure-functions'
import { createValidator } from '@entraguard/core'

// One validator per app, at module scope: its key and token caches outlive each invocation.
const validator = createValidator({
  tenant: process.env.TENANT_ID ?? '',
  audience: (process.env.API_AUDIENCE ?? '').split(','),
  ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
})
// App-only callers (VMs with managed identities) need the app role.
const stocks = withEntraAuth({ validator, requirement: { roles: ['Stocks.Read'] } }, (_req, _ctx, auth) => ({
  jsonBody: { stocks: ['AAPL', 'MSFT'], caller: auth.clientId },
}))
const functions: Record<string, HttpHandler> = { health: () => ({ jsonBody: { ok: true } }), stocks }
if (process.env.FUNCTIONS_WORKER_RUNTIME) {
  app.hook.appStart(() => validator.warm().catch(() => {})) // keys before the first call
  for (const [route, handler] of Object.entries(functions))
    app.http(route, { methods: ['GET'], authLevel: 'anonymous', route, handler }) // token, not function key
} else {
  // Local try-out only; the host serves these at /api/<route> and, like this, joins repeated headers.
  const server = createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    const handler = functions[url.pathname.slice(1)]
    if (handler === undefined) return void res.writeHead(404).end()
    const headers = Object.fromEntries(Object.entries(req.headersDistinct).map(([k, v]) => [k, `${v}`]))
    const request = new azf.HttpRequest({ method: 'GET', url: url.href, headers })
    const result = await handler(request, new azf.InvocationContext())
    const response = new azf.HttpResponse(result as ConstructorParameters<typeof azf.HttpResponse>[0])
    const body = Buffer.from(await response.arrayBuffer())
    res.writeHead(response.status, [...response.headers].flat()).end(body)
  })
  server.listen(Number(process.env.PORT ?? 3000), '127.0.0.1', () => {
    const address = server.address()
    console.log(`listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : ''}`)
  })
}
