/** Limits for one fetch of a metadata document or key set. */
export interface FetchLimits {
  timeout: number
  maxBytes: number
}

/** Why a metadata or key-set fetch failed; always caught and turned into an event or a 503. */
export class FetchFailure extends Error {
  override readonly name = 'FetchFailure'
}

/**
 * GETs a JSON document with a timeout and a response size limit. Redirects are not followed: an identity
 * provider that redirects its key set is misconfigured or spoofed.
 */
export async function fetchJson(fetchFn: typeof fetch, url: string, limits: FetchLimits): Promise<unknown> {
  const signal = AbortSignal.timeout(limits.timeout)
  let response: Response
  try {
    response = await fetchFn(url, { signal, redirect: 'manual', headers: { accept: 'application/json' } })
  } catch (cause) {
    const timedOut = signal.aborted
    throw new FetchFailure(
      timedOut ? `GET ${url} timed out after ${limits.timeout} ms` : `GET ${url} failed: ${describe(cause)}`,
      { cause },
    )
  }
  try {
    if (response.status !== 200) {
      throw new FetchFailure(`GET ${url} answered ${response.status}, expected 200`)
    }
    const declared = Number(response.headers.get('content-length'))
    if (Number.isFinite(declared) && declared > limits.maxBytes) {
      throw new FetchFailure(
        `GET ${url} declared ${declared} bytes, more than the limit of ${limits.maxBytes}`,
      )
    }
    const text = await readLimited(response, url, limits.maxBytes, signal)
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
  signal: AbortSignal,
): Promise<string> {
  if (response.body === null) return ''
  const reader = response.body.getReader()
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
  } catch (cause) {
    await reader.cancel().catch(() => {})
    if (cause instanceof FetchFailure) throw cause
    throw new FetchFailure(
      signal.aborted
        ? `GET ${url} timed out while reading the body`
        : `GET ${url} failed while reading: ${describe(cause)}`,
      { cause },
    )
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
