import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AppOptions, IdentityOptions } from './config.js'
import type { AppRoleAssignment } from './directory.js'
import { readBody, sendJson } from './http.js'

/** The path prefix of the admin endpoint. */
export const ADMIN_PATH = '/_emulator'

/** What the admin endpoint can do to a running emulator (the emulator's own methods). */
export interface AdminOperations {
  assignAppRole(a: AppRoleAssignment): void
  removeAppRoleAssignment(a: AppRoleAssignment): void
  clearTokenCache(identity?: string): void
  addIdentity(o: IdentityOptions): { name: string; clientId: string; objectId: string }
  removeIdentity(ref: string): void
  addApp(o: AppOptions): { name: string; clientId: string }
  removeApp(ref: string): void
  rotateKeys(): string
  directory(): unknown
}

const LOOPBACK_HOST = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|localhost|\[::1\])(:\d+)?$/i

type Route = (body: Record<string, unknown>, ref: string) => { status: number; body?: unknown }

const text = (v: unknown, name: string): string => {
  if (typeof v !== 'string' || v === '') throw new Error(`'${name}' is required (a string)`)
  return v
}
const assignmentOf = (b: Record<string, unknown>): AppRoleAssignment => ({
  principal: text(b.principal, 'principal'),
  role: text(b.role, 'role'),
  ...(b.app === undefined ? {} : { app: text(b.app, 'app') }),
})

/**
 * The loopback admin endpoint that `entraguard-emulator assign ...` drives. JSON in, JSON out. It
 * refuses requests that carry an Origin header or a non-loopback Host, so a web page cannot drive it
 * (no CORS, no DNS rebinding), and JSON bodies only, so a form post cannot either.
 */
export async function adminEndpoint(
  ops: AdminOperations,
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
): Promise<void> {
  if (req.headers.origin !== undefined || !LOOPBACK_HOST.test(req.headers.host ?? '')) {
    sendJson(res, 403, {
      error: 'forbidden',
      error_description: 'The admin endpoint answers local tools only',
    })
    return
  }
  const routes: Record<string, Route> = {
    'GET directory': () => ({ status: 200, body: ops.directory() }),
    'POST app-role-assignments': (b) => {
      ops.assignAppRole(assignmentOf(b))
      return { status: 201, body: assignmentOf(b) }
    },
    'DELETE app-role-assignments': (b) => {
      ops.removeAppRoleAssignment(assignmentOf(b))
      return { status: 204 }
    },
    'POST token-cache/clear': (b) => {
      ops.clearTokenCache(b.identity === undefined ? undefined : text(b.identity, 'identity'))
      return { status: 204 }
    },
    'POST identities': (b) => ({ status: 201, body: ops.addIdentity(b as IdentityOptions) }),
    'DELETE identities': (_b, ref) => {
      ops.removeIdentity(ref)
      return { status: 204 }
    },
    'POST apps': (b) => ({ status: 201, body: ops.addApp(b as AppOptions) }),
    'DELETE apps': (_b, ref) => {
      ops.removeApp(ref)
      return { status: 204 }
    },
    'POST keys/rotate': () => ({ status: 201, body: { kid: ops.rotateKeys() } }),
  }
  const rest = url.pathname.slice(ADMIN_PATH.length + 1)
  const slash = rest.indexOf('/')
  const [collection, ref] =
    rest.startsWith('identities/') || rest.startsWith('apps/')
      ? [rest.slice(0, slash), decodeURIComponent(rest.slice(slash + 1))]
      : [rest, '']
  const route = routes[`${req.method ?? ''} ${collection}`]
  if (route === undefined) {
    sendJson(res, 404, {
      error: 'not_found',
      error_description: `No admin operation ${req.method} ${url.pathname}`,
    })
    return
  }
  let body: Record<string, unknown> = {}
  if (req.method !== 'GET') {
    const raw = await readBody(req)
    if (raw === undefined) {
      sendJson(res, 413, { error: 'invalid_request', error_description: 'The body is too large' })
      return
    }
    if (raw !== '') {
      if (!/^application\/json\b/i.test(req.headers['content-type'] ?? '')) {
        sendJson(res, 415, {
          error: 'invalid_request',
          error_description: 'Send JSON (content-type: application/json)',
        })
        return
      }
      try {
        const parsed: unknown = JSON.parse(raw)
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not an object')
        body = parsed as Record<string, unknown>
      } catch {
        sendJson(res, 400, { error: 'invalid_request', error_description: 'The body is not a JSON object' })
        return
      }
    }
  }
  let result: { status: number; body?: unknown }
  try {
    result = route(body, ref)
  } catch (err) {
    sendJson(res, 400, { error: 'invalid_request', error_description: (err as Error).message })
    return
  }
  if (result.body === undefined) {
    res.writeHead(result.status, { 'cache-control': 'no-store' }).end()
    return
  }
  sendJson(res, result.status, result.body)
}
