import type { Principal, Validator } from '@entraguard/core'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'

/**
 * The MCP SDK's `AuthInfo` for a validated caller. `clientId` is the calling app (`azp` / `appid`), `scopes`
 * the short delegated scopes (`scp`; empty for app-only callers, whose app roles are in the principal),
 * `expiresAt` the token's `exp` in seconds, `resource` the configured resource identifier, and
 * `extra.principal` the typed {@link Principal}. It holds the raw token: never log it.
 *
 * @example
 * req.auth = toAuthInfo(token, principal, 'https://mcp.contoso.com/mcp')
 */
export function toAuthInfo(token: string, principal: Principal, resource: string | undefined): AuthInfo {
  return {
    token,
    clientId: principal.clientId,
    scopes: [...principal.scopes],
    expiresAt: Math.floor(principal.expiresAt.getTime() / 1000),
    // The SDK types `resource` as a URL; the verbatim string stays in the metadata document.
    ...(resource === undefined ? {} : { resource: new URL(resource) }),
    extra: { principal },
  }
}

/**
 * The validated caller behind a tool call: reads `extra.authInfo` as set by `requireMcpAuth()` or
 * `mcpTokenVerifier()`. Throws when the request was not authenticated by entraguard (a wiring mistake).
 *
 * @example
 * server.setRequestHandler(CallToolRequestSchema, async (request, extra) => {
 *   const caller = getPrincipal(extra.authInfo)
 *   console.log(caller.identityType, caller.clientId, caller.roles)
 * })
 */
export function getPrincipal(authInfo: AuthInfo | undefined): Principal {
  const principal = authInfo?.extra?.principal
  if (typeof principal !== 'object' || principal === null || !('identityType' in principal)) {
    throw new Error(
      'entraguard: no principal on extra.authInfo; mount requireMcpAuth() (or requireBearerAuth with mcpTokenVerifier()) in front of the MCP transport and pass req on to transport.handleRequest(req, res, req.body)',
    )
  }
  return principal as Principal
}

const validators = new WeakMap<AuthInfo, { validator: Validator; reportOnly: boolean }>()

/** Remembers which validator authenticated an `AuthInfo` (and in which mode), so checks inside tool handlers report to it. */
export function bindValidator(authInfo: AuthInfo, validator: Validator, reportOnly = false): AuthInfo {
  validators.set(authInfo, { validator, reportOnly })
  return authInfo
}

/** The validator that authenticated an `AuthInfo`, if entraguard made it. */
export function validatorOf(authInfo: AuthInfo | undefined): Validator | undefined {
  return authInfo === undefined ? undefined : validators.get(authInfo)?.validator
}

/** Whether the `requireMcpAuth()` that made this `AuthInfo` runs in report-only mode. */
export function reportOnlyOf(authInfo: AuthInfo | undefined): boolean {
  return authInfo !== undefined && validators.get(authInfo)?.reportOnly === true
}
