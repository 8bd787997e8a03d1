import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/**
 * A canary on 127.0.0.1:0: tokens point `jku`, `x5u`, `iss` and the like at it, and a validator that ever
 * dereferences a URL taken from a token shows up here. It counts TCP connections, not only requests, so a
 * fetch that gives up before sending a request is still seen.
 */
export interface Canary {
  /** `http://127.0.0.1:PORT` */
  origin: string
  /** A URL on the canary for `what` (e.g. 'jku'), so a hit says which lure worked. */
  url(what: string): string
  connections(): number
  /** The paths requested, in order. */
  readonly requests: readonly string[]
  close(): Promise<void>
}

/** Starts a {@link Canary}. */
export async function startCanary(): Promise<Canary> {
  const requests: string[] = []
  let connections = 0
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? '')
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":[]}')
  })
  server.on('connection', () => {
    connections++
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    origin,
    url: (what) => `${origin}/canary/${what}`,
    connections: () => connections,
    requests,
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
