import { request } from 'node:http'

/** A response as the tests need it. */
export interface Reply {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: string
  json(): Record<string, unknown>
}

/**
 * Sends one request with exactly the headers given (arrays become repeated header lines), bounded by a
 * timeout, to a loopback server.
 */
export function send(
  base: string,
  path: string,
  options: { method?: string; headers?: Record<string, string | string[]>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const url = new URL(path, base)
    if (url.hostname !== '127.0.0.1') throw new Error('tests talk to 127.0.0.1 only')
    const req = request(
      url,
      { method: options.method ?? 'GET', headers: options.headers ?? {}, timeout: 10_000, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8')
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) })
        })
      },
    )
    req.on('timeout', () => req.destroy(new Error('request timed out')))
    req.on('error', reject)
    if (options.body !== undefined) req.write(options.body)
    req.end()
  })
}
