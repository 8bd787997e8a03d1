import { type AuthError, authorize, isAuthError, type Policy } from '@entraguard/core'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { McpError } from '@modelcontextprotocol/sdk/types.js'
import { getPrincipal, reportOnlyOf, validatorOf } from './auth-info.js'

/**
 * The JSON-RPC error code of {@link ToolAccessError}: in JSON-RPC's range for implementation-defined server
 * errors, the value MCP gateways commonly use for "forbidden".
 */
export const TOOL_ACCESS_DENIED = -32003

/**
 * A refusal decided inside a tool handler. The HTTP answer has been committed by then (the transport owns
 * it), so it cannot be a 403: thrown from a low-level `Server` handler it becomes a JSON-RPC error
 * (`code` {@link TOOL_ACCESS_DENIED}, `data: { error, error_description }`); thrown from an `McpServer`
 * tool it becomes a tool result with `isError: true`, which the model reads. `authError` is entraguard's
 * refusal (`forbidden`, or `insufficient_scope`).
 *
 * @example
 * try { requireToolPermission(extra, policy, 'stocks/trade', `/portfolios/${p}`) }
 * catch (err) { if (err instanceof ToolAccessError) log.warn(err.authError.detail); throw err }
 */
export class ToolAccessError extends McpError {
  readonly authError: AuthError

  constructor(authError: AuthError) {
    super(TOOL_ACCESS_DENIED, authError.description, authError.toJSON())
    this.name = 'ToolAccessError'
    this.authError = authError
  }
}

/**
 * Checks an RBAC permission on a resource computed from a tool's arguments, inside the tool handler, with
 * the same decision, audit event (`access.allowed` / `access.denied`, naming `action` and `resource`) and
 * refusal text as `requirePermission` in the other adapters. A denial throws a {@link ToolAccessError};
 * behind `requireMcpAuth({ reportOnly: true })` it is reported as `access.would_deny` and nothing is thrown.
 *
 * @example
 * server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
 *   requireToolPermission(extra, policy, 'stocks/trade', `/portfolios/${request.params.arguments?.portfolio}`)
 *   // ... trade
 * })
 */
export function requireToolPermission(
  extra: { authInfo?: AuthInfo | undefined; requestInfo?: { url?: URL | undefined } | undefined },
  policy: Policy,
  action: string,
  resource: string,
): void {
  const principal = getPrincipal(extra.authInfo)
  const validator = validatorOf(extra.authInfo)
  // Over Streamable HTTP a tool call is a POST to the MCP endpoint; over stdio there is no route.
  const url = extra.requestInfo?.url
  const context = url === undefined ? {} : { method: 'POST', route: url.pathname }
  const sink = validator ?? (() => {})
  try {
    const reportOnly = reportOnlyOf(extra.authInfo)
    authorize(principal, { permission: { policy, action, resource } }, context, sink, { reportOnly })
  } catch (err) {
    throw isAuthError(err) ? new ToolAccessError(err) : err
  }
}
