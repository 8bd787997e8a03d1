import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { type LocalIssuer, startLocalIssuer } from '../../packages/core/test/local-issuer.js'

/** Which document a fault replaces. */
export type FaultTarget = 'metadata' | 'keys'

/** What a fault gets: the request, the response, and the body the issuer would have sent. */
export interface FaultContext {
  req: IncomingMessage
  res: ServerResponse
  body: string
  /** Runs `fn` after `ms` unless the issuer is reset or closed first. */
  later(ms: number, fn: () => void): void
}

/** Misbehaviour of the identity provider for one kind of document. */
export interface Fault {
  target: FaultTarget
  handle(ctx: FaultContext): void
}

/**
 * An identity provider that misbehaves on demand: it serves the OpenID configuration and key set of a
 * {@link LocalIssuer} (real RSA keys; sign, rotate and unpublish through `inner`) from its own origin on
 * 127.0.0.1:0, and hands a request to `fault` when its target matches.
 */
export interface FaultIssuer {
  authority: string
  inner: LocalIssuer
  fault: Fault | undefined
  /** Kids left out of the key set this issuer serves (the inner issuer can still sign with them). */
  hidden: Set<string>
  /** Requests that reached this issuer, per document. */
  readonly hits: { metadata: number; keys: number }
  /** Body bytes written by faults that stream (the 50 MB case): how much the validator let through. */
  bytesStreamed: number
  /** Clears the fault, the counters and pending timers. */
  reset(): void
  close(): Promise<void>
}

export async function startFaultIssuer(inner?: LocalIssuer): Promise<FaultIssuer> {
  const upstream = inner ?? (await startLocalIssuer())
  const timers = new Set<NodeJS.Timeout>()
  let authority = ''
  const server: Server = createServer((req, res) => {
    void serve(req, res)
  })

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = req.url ?? '/'
    const target: FaultTarget = path.includes('openid-configuration') ? 'metadata' : 'keys'
    issuer.hits[target]++
    const answer = await fetch(`${upstream.authority}${path}`)
    // The metadata names the key set at this issuer's origin, so that faults apply to it too.
    let body = (await answer.text()).replaceAll(upstream.authority, authority)
    if (target === 'keys' && issuer.hidden.size > 0) {
      const set = JSON.parse(body) as { keys: { kid?: string }[] }
      body = JSON.stringify({ keys: set.keys.filter((k) => !issuer.hidden.has(k.kid ?? '')) })
    }
    const fault = issuer.fault
    if (fault !== undefined && fault.target === target) {
      fault.handle({
        req,
        res,
        body,
        later(ms, fn) {
          const timer = setTimeout(() => {
            timers.delete(timer)
            if (!res.destroyed) fn()
          }, ms)
          timers.add(timer)
        },
      })
      return
    }
    res.writeHead(answer.status, { 'content-type': 'application/json' }).end(body)
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const issuer: FaultIssuer = {
    authority,
    inner: upstream,
    fault: undefined,
    hidden: new Set(),
    hits: { metadata: 0, keys: 0 },
    bytesStreamed: 0,
    reset() {
      issuer.fault = undefined
      issuer.hidden.clear()
      issuer.hits.metadata = 0
      issuer.hits.keys = 0
      issuer.bytesStreamed = 0
      for (const timer of timers) clearTimeout(timer)
      timers.clear()
    },
    async close() {
      issuer.reset()
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
      if (inner === undefined) await upstream.close()
    },
  }
  return issuer
}

const json = { 'content-type': 'application/json' }

/** The faults of the matrix (security-testing.md §4), each a function of its target. */
export const faults = {
  /** Sends nothing for `ms`, then the right answer. */
  slowHeaders: (target: FaultTarget, ms: number): Fault => ({
    target,
    handle: ({ res, body, later }) => later(ms, () => res.writeHead(200, json).end(body)),
  }),
  /** The right headers, then the body at one byte per `everyMs` (1 byte/s by default). */
  drip: (target: FaultTarget, everyMs = 1000): Fault => ({
    target,
    handle: ({ res, body, later }) => {
      res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(body) })
      res.flushHeaders()
      const bytes = Buffer.from(body)
      const step = (i: number) => {
        if (i >= bytes.length) return void res.end()
        res.write(bytes.subarray(i, i + 1))
        later(everyMs, () => step(i + 1))
      }
      step(0)
    },
  }),
  resetBeforeHeaders: (target: FaultTarget): Fault => ({
    target,
    handle: ({ req }) => req.socket.destroy(),
  }),
  resetAfterHeaders: (target: FaultTarget): Fault => ({
    target,
    handle: ({ req, res, body, later }) => {
      res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(body) })
      res.flushHeaders()
      later(10, () => req.socket.destroy())
    },
  }),
  resetMidBody: (target: FaultTarget): Fault => ({
    target,
    handle: ({ req, res, body, later }) => {
      res.writeHead(200, { ...json, 'content-length': Buffer.byteLength(body) })
      res.write(body.slice(0, Math.floor(body.length / 2)))
      later(10, () => req.socket.destroy())
    },
  }),
  /** A JSON-looking body of `bytes` bytes, streamed as the client reads it; declared or chunked. */
  huge: (issuer: FaultIssuer, target: FaultTarget, bytes: number, declared: boolean): Fault => ({
    target,
    handle: ({ res }) => {
      res.writeHead(200, declared ? { ...json, 'content-length': bytes } : json)
      const chunk = Buffer.alloc(64 * 1024, 0x20)
      chunk.write('{"keys":[')
      const pump = () => {
        while (issuer.bytesStreamed < bytes && !res.destroyed) {
          const n = Math.min(chunk.length, bytes - issuer.bytesStreamed)
          issuer.bytesStreamed += n
          if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n)))
            return void res.once('drain', pump)
        }
        if (!res.destroyed) res.end()
      }
      pump()
    },
  }),
  redirect: (target: FaultTarget, status: number, location: string): Fault => ({
    target,
    handle: ({ res }) => res.writeHead(status, { location }).end(),
  }),
  status: (
    target: FaultTarget,
    status: number,
    body = '',
    headers: Record<string, string> = json,
  ): Fault => ({
    target,
    handle: ({ res }) => res.writeHead(status, headers).end(body),
  }),
  /** A 200 with this JSON value (or text when given a string). */
  body: (target: FaultTarget, value: unknown, contentType = 'application/json'): Fault => ({
    target,
    handle: ({ res }) =>
      res
        .writeHead(200, { 'content-type': contentType })
        .end(typeof value === 'string' ? value : JSON.stringify(value)),
  }),
}
