import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AuthError } from '@entraguard/core'

/**
 * What the middleware needs of a request: Node's `IncomingMessage` with the body Express parsed
 * (`express.json()`) and, under Express, the mount path. Typed structurally so the package does not depend
 * on Express, and without `auth` so that Express apps whose `req.auth` is typed otherwise still fit.
 */
export type McpRequest = IncomingMessage & { body?: unknown; baseUrl?: string }

/** A Connect / Express middleware over Node's request and response. */
export type McpRequestHandler = (req: McpRequest, res: ServerResponse, next: (err?: unknown) => void) => void

/** Answers a refusal the way every adapter does: status, `WWW-Authenticate` / `Retry-After`, JSON body. */
export function sendRefusal(res: ServerResponse, err: AuthError): void {
  res.statusCode = err.status
  for (const [name, value] of Object.entries(err.headers)) res.setHeader(name, value)
  res.setHeader('Content-Type', 'application/json; charset=utf-8')
  res.end(JSON.stringify(err.toJSON()))
}

/** The path part of a request target. */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/'
  const q = target.indexOf('?')
  return q === -1 ? target : target.slice(0, q)
}
