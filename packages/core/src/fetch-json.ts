import { traceFetch } from './telemetry.js'

/** Limits for one fetch of a metadata document or key set. */
export interface FetchLimits {
  timeout: number
  maxBytes: number
}

/** Why a metadata or key-set fetch failed; always caught and turned into an event or a 503. */
export class FetchFailure extends Error {
  override readonly name = 'FetchFailure'
  /** Milliseconds the server asked to wait (`Retry-After` on a 429 or 503), for a caller's back-off. */
  readonly retryAfterMs: number | undefined

  constructor(message: string, options?: ErrorOptions & { retryAfterMs?: number | undefined }) {
    super(message, options)
    this.retryAfterMs = options?.retryAfterMs
  }
}

/** `Retry-After` as milliseconds: delay-seconds or an HTTP date; undefined when absent or unreadable. */
function retryAfterOf(response: Response): number | undefined {
  const value = response.headers.get('retry-after')?.trim()
  if (value === undefined || value === '') return undefined
  if (/^\d+$/.test(value)) return Number(value) * 1000
  const at = Date.parse(value)
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now())
}

/**
 * GETs a JSON document with a timeout and a response size limit. Redirects are not followed: an identity
 * provider that redirects its key set is misconfigured or spoofed.
 *
 * The timeout is a deadline for the whole exchange, headers and body: it aborts the request and also settles
 * on its own, so an injected `fetch` (or body stream) that ignores the abort signal cannot hang a request.
 *
 * @example
 * const keys = await fetchJson(fetch, 'https://login.microsoftonline.com/common/discovery/v2.0/keys', {
 *   timeout: 5_000,
 *   maxBytes: 512 * 1024,
 * })
 */
export async function fetchJson(fetchFn: typeof fetch, url: string, limits: FetchLimits): Promise<unknown> {
  const controller = new AbortController()
  const exchange: Exchange = { signal: controller.signal, reader: undefined }
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new FetchFailure(`GET ${url} timed out after ${limits.timeout} ms`))
      controller.abort(new DOMException(`timed out after ${limits.timeout} ms`, 'TimeoutError'))
      exchange.reader?.cancel().catch(() => {})
    }, limits.timeout)
    // Like AbortSignal.timeout: a pending key fetch alone does not keep the process alive.
    timer.unref()
  })
  try {
    // The losing promise still settles later; race() has subscribed to it, so that is never unhandled.
    return await traceFetch(url, exchange, () =>
      Promise.race([fetchAndRead(fetchFn, url, limits.maxBytes, exchange), deadline]),
    )
  } finally {
    clearTimeout(timer)
  }
}

interface Exchange {
  signal: AbortSignal
  reader: ReadableStreamDefaultReader<Uint8Array> | undefined
  /** For telemetry: the response status and body size, once known. */
  status?: number
  bytes?: number
}

async function fetchAndRead(
  fetchFn: typeof fetch,
  url: string,
  maxBytes: number,
  exchange: Exchange,
): Promise<unknown> {
  let response: Response
  try {
    response = await fetchFn(url, {
      signal: exchange.signal,
      redirect: 'manual',
      headers: { accept: 'application/json' },
    })
  } catch (cause) {
    throw new FetchFailure(`GET ${url} failed: ${describe(cause)}`, { cause })
  }
  exchange.status = response.status
  try {
    if (response.status !== 200) {
      const retryAfterMs = retryAfterOf(response)
      throw new FetchFailure(
        `GET ${url} answered ${response.status}, expected 200${retryAfterMs === undefined ? '' : ` (Retry-After ${Math.ceil(retryAfterMs / 1000)} s)`}`,
        { retryAfterMs },
      )
    }
    const declared = Number(response.headers.get('content-length'))
    if (Number.isFinite(declared) && declared > maxBytes) {
      throw new FetchFailure(`GET ${url} declared ${declared} bytes, more than the limit of ${maxBytes}`)
    }
    const text = await readLimited(response, url, maxBytes, exchange)
    try {
      return JSON.parse(text)
    } catch (cause) {
      throw new FetchFailure(`GET ${url} did not return JSON`, { cause })
    }
  } finally {
    // Release the connection whatever happened.
    if (response.body !== null && !response.bodyUsed) await response.body.cancel().catch(() => {})
  }
}

async function readLimited(
  response: Response,
  url: string,
  maxBytes: number,
  exchange: Exchange,
): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
  exchange.reader = reader
  const chunks: Uint8Array[] = []
  let total = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      total += value.byteLength
      if (total > maxBytes) {
        throw new FetchFailure(`GET ${url} returned more than the limit of ${maxBytes} bytes`)
      }
      chunks.push(value)
    }
    exchange.bytes = total
  } catch (cause) {
    await reader.cancel().catch(() => {})
    if (cause instanceof FetchFailure) throw cause
    throw new FetchFailure(`GET ${url} failed while reading: ${describe(cause)}`, { cause })
  } finally {
    reader.releaseLock()
  }
  return Buffer.concat(chunks).toString('utf8')
}

function describe(cause: unknown): string {
  if (cause instanceof Error) {
    const inner = cause.cause instanceof Error ? ` (${cause.cause.message})` : ''
    return `${cause.message}${inner}`
  }
  return String(cause)
}
