// entraguard with no framework: a plain Fetch handler (the shape of Bun.serve, Deno.serve, Next.js route
// handlers and Workers), served here on Node by @hono/node-server.
//   TENANT_ID=<tenant id or domain> API_AUDIENCE=api://my-api PORT=3000 node minimal-fetch.js
import { authenticateRequest, authorize, createValidator, toResponse } from '@entraguard/core'
import { serve } from '@hono/node-server'

// At module scope, so its key and token caches outlive each request (creating it starts no timer and no I/O).
const validator = createValidator({
  tenant: process.env.TENANT_ID ?? '',
  audience: (process.env.API_AUDIENCE ?? '').split(','),
  ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
})

async function handle(request: Request): Promise<Response> {
  const { pathname } = new URL(request.url)
  if (pathname === '/health') return Response.json({ ok: true })
  if (pathname !== '/stocks') return new Response('Not Found', { status: 404 })
  try {
    const principal = await authenticateRequest(validator, request)
    // Throws insufficient_scope (403) without the app role, and reports the decision to onEvent.
    authorize(
      principal,
      { requirement: { roles: ['Stocks.Read'] } },
      { method: request.method, route: '/stocks' },
      validator,
    )
    return Response.json({ stocks: ['AAPL', 'MSFT'], caller: principal.clientId })
  } catch (err) {
    return toResponse(err) // an AuthError as 400/401/403/503 with its headers; anything else is re-thrown
  }
}

serve({ fetch: handle, port: Number(process.env.PORT ?? 3000), hostname: '127.0.0.1' }, (info) => {
  console.log(`listening on http://127.0.0.1:${info.port}`)
})
