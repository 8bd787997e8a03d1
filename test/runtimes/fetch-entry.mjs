// Runs core's Fetch entry and a Hono app with @entraguard/hono under whichever runtime executes this file (Node,
// Bun, Deno) and prints one JSON line.
// Input comes as one JSON argument: { tenant, audience, authority, token }. The token is never printed.
//   bun test/runtimes/fetch-entry.mjs '<json>'    deno run --allow-net=127.0.0.1 --allow-read --allow-env ... '<json>'
import { authenticateRequest, createValidator, toResponse } from '@entraguard/core'
import { entraAuth, requireRoles } from '@entraguard/hono'
import { Hono } from 'hono'

const args = globalThis.Deno ? globalThis.Deno.args : globalThis.process.argv.slice(2)
const input = JSON.parse(args[0])
const runtime = globalThis.Bun
  ? `bun ${globalThis.Bun.version}`
  : globalThis.Deno
    ? `deno ${globalThis.Deno.version.deno}`
    : `node ${globalThis.process.version}`
const validator = createValidator({
  tenant: input.tenant,
  audience: input.audience,
  authority: input.authority,
})
const url = 'http://127.0.0.1/stocks'
const report = { runtime }

/** The status and error of a request, as toResponse would answer it (200 for a principal). */
async function answer(request) {
  try {
    const principal = await authenticateRequest(validator, request)
    return { status: 200, clientId: principal.clientId }
  } catch (err) {
    const res = toResponse(err)
    return {
      status: res.status,
      error: (await res.json()).error,
      challenge: res.headers.get('www-authenticate'),
      contentType: res.headers.get('content-type'),
    }
  }
}

try {
  report.valid = await answer(new Request(url, { headers: { authorization: `Bearer ${input.token}` } }))
  report.cached = await answer(new Request(url, { headers: { authorization: `Bearer ${input.token}` } }))
  report.missing = await answer(new Request(url))
  const twice = new Headers()
  twice.append('authorization', `Bearer ${input.token}`)
  twice.append('authorization', 'Bearer a.b.c')
  report.twoHeaders = await answer(new Request(url, { headers: twice }))
  report.garbage = await answer(new Request(url, { headers: { authorization: 'Bearer not.a.jwt' } }))
  report.queryAndHeader = await answer(
    new Request(`${url}?access_token=x`, { headers: { authorization: `Bearer ${input.token}` } }),
  )
  const app = new Hono()
  app.use(entraAuth({ validator }))
  app.get('/stocks', requireRoles('Stocks.Read'), (c) => c.json({ caller: c.get('auth').clientId }))
  app.post('/stocks', requireRoles('Stocks.Write'), (c) => c.json({ ok: true }, 201))
  /** Status, challenge and body of the Hono app's answer. */
  const hono = async (init) => {
    const res = await app.request('/stocks', init)
    return { status: res.status, challenge: res.headers.get('www-authenticate'), body: await res.json() }
  }
  report.honoValid = await hono({ headers: { authorization: `Bearer ${input.token}` } })
  report.honoDenied = await hono({ method: 'POST', headers: { authorization: `Bearer ${input.token}` } })
  report.honoTwoHeaders = await hono({ headers: twice })
} catch (err) {
  report.crash = String(err?.stack ?? err)
} finally {
  validator.close()
}
console.log(JSON.stringify(report))
