import type { IncomingMessage, ServerResponse } from 'node:http'

/** Sends JSON with the given status and headers. */
export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    ...headers,
  })
  res.end(text)
}

/** Reads a request body up to `limit` bytes; resolves undefined when it is larger. */
export async function readBody(req: IncomingMessage, limit = 64 * 1024): Promise<string | undefined> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > limit) return undefined
    chunks.push(chunk as Buffer)
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Query parameters, with duplicates reported (IMDS refuses duplicated names). */
export function queryOf(url: URL): { params: Map<string, string>; duplicates: string[] } {
  const params = new Map<string, string>()
  const duplicates: string[] = []
  for (const [k, v] of url.searchParams) {
    if (params.has(k)) duplicates.push(k)
    params.set(k, v)
  }
  return { params, duplicates }
}

/** An AAD-style OAuth error body: error, error_description with an AADSTS code, error_codes, ids. */
export function aadError(error: string, code: number, message: string): Record<string, unknown> {
  const trace = crypto.randomUUID()
  return {
    error,
    error_description: `AADSTS${code}: ${message} Trace ID: ${trace} Correlation ID: ${crypto.randomUUID()} Timestamp: ${new Date().toISOString().replace('T', ' ').slice(0, 19)}Z`,
    error_codes: [code],
    timestamp: new Date().toISOString().replace('T', ' ').slice(0, 19) + 'Z',
    trace_id: trace,
    correlation_id: crypto.randomUUID(),
    error_uri: `https://login.microsoftonline.com/error?code=${code}`,
  }
}

/** Entra's answer for a resource (or scope) that names no app in the tenant: 400 invalid_resource, AADSTS500011. */
export function sendUnknownResource(res: ServerResponse, resource: string, tenantDomain: string): void {
  sendJson(
    res,
    400,
    aadError(
      'invalid_resource',
      500_011,
      `The resource principal named ${resource} was not found in the tenant named ${tenantDomain}. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.`,
    ),
  )
}
