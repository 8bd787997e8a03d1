import type { ServerResponse } from 'node:http'
import {
  type AccessContext,
  authenticate,
  authorizationOf,
  authorize,
  ConfigurationError,
  extractBearerToken,
  isAuthError,
  type Requirement,
  useValidator,
  type ValidatorSource,
} from '@entraguard/core'
import { bindValidator, toAuthInfo } from './auth-info.js'
import { type McpRequest, type McpRequestHandler, pathOf, sendRefusal } from './mcp-request.js'
import { calledTools } from './tool-calls.js'

/** Options of {@link requireMcpAuth}: validator options (with `resourceMetadata`), or a validator you created. */
export type McpAuthOptions = ValidatorSource & {
  /**
   * What each tool needs, checked before the tool runs (`check()`'s shape: with both scopes and roles, user
   * tokens need a scope and app tokens a role). Tools not listed need a valid token only.
   */
  tools?: Readonly<Record<string, Requirement>> | undefined
  /** What every request to the MCP endpoint needs beyond a valid token. */
  requirement?: Requirement | undefined
  /**
   * Report-only roll-out: refusals are reported as `token.would_reject` / `access.would_deny` events and the
   * request reaches the transport (with `req.auth` unset when the token was refused, so tool handlers see no
   * `extra.authInfo`). Default: the validator's `reportOnly`.
   */
  reportOnly?: boolean | undefined
}

/**
 * Express middleware for an MCP server's Streamable HTTP endpoint. It validates the bearer token, checks the
 * endpoint's `requirement` and, for every `tools/call` in the JSON-RPC body (a batch too), that tool's
 * requirement, then sets `req.auth` to the SDK's `AuthInfo`, which the transport hands to tool handlers as
 * `extra.authInfo`. Refusals are answered here: no token → 401 `Bearer resource_metadata="…"`; a bad token
 * → 401 `invalid_token`; a tool the caller may not call → 403 `insufficient_scope` naming the full scopes
 * (a batch holding one is refused whole); issuer outage → 503 + `Retry-After`. The body must be parsed
 * before it (`express.json()`) and passed to `transport.handleRequest(req, res, req.body)`.
 *
 * @example
 * app.use(resourceMetadataHandler(validator))
 * app.post('/mcp', express.json(), requireMcpAuth({ validator, tools: { trade: { roles: ['Stocks.Write'] } } }), mcp)
 */
export function requireMcpAuth(options: McpAuthOptions): McpRequestHandler {
  const { tools = {}, requirement, reportOnly: report, ...source } = options
  const { validator } = useValidator(source as ValidatorSource)
  const reportOnly = report ?? validator.reportOnly === true
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      "entraguard: requireMcpAuth() needs a validator created with the resourceMetadata option (MCP clients find the authorization server through it), e.g. resourceMetadata: { resource: 'https://mcp.contoso.com/mcp', scopes: ['Stocks.Read'] }",
    )
  }
  const resource = metadata.document.resource as string
  // A Map, so a tool named `constructor` or `__proto__` never finds Object.prototype's members.
  const toolRequirements = new Map(Object.entries(tools))
  const checksTools = toolRequirements.size > 0

  return function entraMcpAuth(req: McpRequest, res: ServerResponse, next: (err?: unknown) => void): void {
    const context: AccessContext = { method: req.method, route: req.baseUrl || pathOf(req.url) }
    const shape = { headers: req.rawHeaders, url: req.url, body: req.body }
    authenticate(validator, shape, { reportOnly, context }).then(
      (principal) => {
        // Report-only let a refused token through: the transport runs without AuthInfo.
        if (principal === undefined) {
          next()
          return
        }
        if (checksTools && req.method === 'POST' && req.body === undefined) {
          unparsedBody(req, res, next)
          return
        }
        try {
          const mode = { reportOnly }
          if (requirement !== undefined) authorize(principal, { requirement }, context, validator, mode)
          // In report-only mode every tool of a batch that would be refused is reported, each on its own.
          for (const name of calledTools(req.body)) {
            const needs = toolRequirements.get(name)
            if (needs === undefined) continue
            const toolContext = { ...context, action: 'tools/call', resource: `tool:${name}` }
            authorize(principal, { requirement: needs }, toolContext, validator, mode)
          }
          const token = extractBearerToken(authorizationOf({ headers: req.rawHeaders }))
          ;(req as McpRequest & { auth?: unknown }).auth = bindValidator(
            toAuthInfo(token, principal, resource),
            validator,
            reportOnly,
          )
        } catch (err) {
          refuse(err, res, next)
          return
        }
        next()
      },
      (err: unknown) => refuse(err, res, next),
    )
  }
}

function refuse(err: unknown, res: ServerResponse, next: (err?: unknown) => void): void {
  if (isAuthError(err) && !res.headersSent) sendRefusal(res, err)
  else next(err)
}

// Without the parsed body the tools called cannot be checked, so the request never reaches the transport.
function unparsedBody(req: McpRequest, res: ServerResponse, next: (err?: unknown) => void): void {
  if (/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
    next(
      new Error(
        "entraguard: requireMcpAuth() reads the tools called from the parsed JSON-RPC body; put express.json() before it: app.post('/mcp', express.json(), requireMcpAuth(...), handler)",
      ),
    )
    return
  }
  res.statusCode = 415
  res.setHeader('Content-Type', 'application/json')
  res.end(
    JSON.stringify({
      jsonrpc: '2.0',
      error: { code: -32000, message: 'Unsupported Media Type: Content-Type must be application/json' },
      id: null,
    }),
  )
}
