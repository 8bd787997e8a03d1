import type { ServerResponse } from 'node:http'
import { ConfigurationError, type Validator } from '@entraguard/core'
import { type McpRequest, type McpRequestHandler, pathOf } from './mcp-request.js'

/**
 * Serves the validator's RFC 9728 protected-resource metadata at its paths (the path form for a resource
 * with a path, and the root form), for MCP servers whose auth is mounted on the MCP path. Mount it at the
 * app's root; the bytes are the same as every other entraguard adapter serves.
 *
 * @example
 * app.use(resourceMetadataHandler(validator))
 */
export function resourceMetadataHandler(validator: Validator): McpRequestHandler {
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      'entraguard: resourceMetadataHandler() needs a validator created with the resourceMetadata option',
    )
  }
  return function entraResourceMetadata(
    req: McpRequest,
    res: ServerResponse,
    next: (err?: unknown) => void,
  ): void {
    if (!metadata.paths.includes(pathOf(req.url))) {
      next()
      return
    }
    const answer = metadata.respond(req.method ?? 'GET')
    res.statusCode = answer.status
    for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value)
    res.end(answer.body)
  }
}
