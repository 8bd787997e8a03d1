// The API side of `pnpm soak`, in its own process so that its heap and handles are measured alone: the stock
// API in Express and in Fastify, each with its own validator trusting its own authority (a switchable proxy
// in front of the emulator). Driven over IPC by run.ts.
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createValidator, loadPolicy, type Validator } from '@entraguard/core'
import { createExpressStockApi } from '../../examples/stock-api/express-app.js'
import { createFastifyStockApi } from '../../examples/stock-api/fastify-app.js'

/** What run.ts sends in argv[2]. */
export interface SoakServerConfig {
  tenantId: string
  audience: string[]
  /** One authority per framework. */
  authorities: Record<string, string>
  cooldown: number
}

/** A heap and handle reading, taken after a full GC. */
export interface Sample {
  heapUsed: number
  handles: number
}

export type ToServer = { type: 'sample' } | { type: 'stop' }
export type FromServer =
  | { type: 'ready'; urls: Record<string, string> }
  | { type: 'sample'; sample: Sample }
  | { type: 'stopped'; codes: Record<string, Record<string, number>> }

const send = (message: FromServer) => process.send?.(message)
const config = JSON.parse(process.argv[2] ?? '{}') as SoakServerConfig
const policy = await loadPolicy(new URL('../../examples/stock-api/policy.json', import.meta.url))
const codes: Record<string, Record<string, number>> = {}
const closers: (() => Promise<void>)[] = []
const validators: Validator[] = []
const urls: Record<string, string> = {}

for (const [framework, authority] of Object.entries(config.authorities)) {
  const seen: Record<string, number> = {}
  codes[framework] = seen
  const validator = createValidator({
    tenant: config.tenantId,
    audience: config.audience,
    authority,
    jwks: { cooldown: config.cooldown },
    onEvent: (e) => {
      const key = e.type === 'token.rejected' ? `rejected ${e.code}` : e.type
      seen[key] = (seen[key] ?? 0) + 1
    },
  })
  await validator.warm()
  validators.push(validator)
  if (framework === 'fastify') {
    const app = await createFastifyStockApi(validator, policy)
    urls[framework] = await app.listen({ port: 0, host: '127.0.0.1' })
    closers.push(() => app.close())
  } else {
    const server: Server = createExpressStockApi(validator, policy).listen(0, '127.0.0.1')
    await new Promise<void>((resolve) => server.once('listening', () => resolve()))
    urls[framework] = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
    closers.push(async () => {
      server.closeAllConnections()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    })
  }
}

const gc = (globalThis as { gc?: () => void }).gc
process.on('message', async (message: ToServer) => {
  if (message.type === 'sample') {
    gc?.()
    const sample = {
      heapUsed: process.memoryUsage().heapUsed,
      handles: process.getActiveResourcesInfo().length,
    }
    send({ type: 'sample', sample })
  } else if (message.type === 'stop') {
    for (const close of closers) await close()
    for (const v of validators) v.close()
    send({ type: 'stopped', codes })
    process.disconnect()
  }
})
send({ type: 'ready', urls })
