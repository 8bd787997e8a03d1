// Runs the stock-tracking API against Entra ID (or the emulator). Configuration comes from the
// environment, the way an app on an Azure VM gets it; nothing secret is needed.
//   TENANT_ID, API_AUDIENCE (comma-separated), AUTHORITY (optional), FRAMEWORK=express|fastify|nestjs, PORT
import { createValidator, loadPolicy } from '@entraguard/core'
import { createExpressStockApi } from './express-app.js'
import { createFastifyStockApi } from './fastify-app.js'
import { createNestStockApi } from './nest-app.js'

const { TENANT_ID, API_AUDIENCE, AUTHORITY, FRAMEWORK = 'express', PORT = '3000' } = process.env
if (TENANT_ID === undefined || API_AUDIENCE === undefined) {
  console.error('Set TENANT_ID and API_AUDIENCE (e.g. api://stock-api,<client id>)')
  process.exit(2)
}
const validator = createValidator({
  tenant: TENANT_ID,
  audience: API_AUDIENCE.split(','),
  ...(AUTHORITY === undefined ? {} : { authority: AUTHORITY }),
  onEvent: (event) => console.log(JSON.stringify(event)),
})
const policy = await loadPolicy(new URL('./policy.json', import.meta.url))
await validator.warm().catch((err: Error) => console.warn(`keys not fetched yet: ${err.message}`))

if (FRAMEWORK === 'nestjs') {
  const app = await createNestStockApi(validator, policy)
  await app.listen(Number(PORT), '127.0.0.1')
  console.log(`stock API (nestjs) listening on ${(await app.getUrl()).replace('[::1]', '127.0.0.1')}`)
} else if (FRAMEWORK === 'fastify') {
  const app = await createFastifyStockApi(validator, policy)
  const address = await app.listen({ port: Number(PORT), host: '127.0.0.1' })
  console.log(`stock API (fastify) listening on ${address}`)
} else {
  const server = createExpressStockApi(validator, policy).listen(Number(PORT), '127.0.0.1', () => {
    const address = server.address()
    console.log(
      `stock API (express) listening on http://127.0.0.1:${typeof address === 'object' && address ? address.port : PORT}`,
    )
  })
}
