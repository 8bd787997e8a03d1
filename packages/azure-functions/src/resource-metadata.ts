import type { HttpHandler, HttpResponseInit } from '@azure/functions'
import { ConfigurationError, type Validator } from '@entraguard/core'

/**
 * An `app.http` handler serving the validator's RFC 9728 protected-resource metadata (the same bytes and
 * CORS headers as every adapter). Register it on each of `validator.resourceMetadata.paths`, with
 * `authLevel: 'anonymous'` and, since the document must live at the origin's root, `"routePrefix": ""` in
 * host.json (or a proxy that maps `/.well-known/...` to it).
 *
 * @example
 * for (const [i, path] of validator.resourceMetadata.paths.entries())
 *   app.http(`resource-metadata-${i}`, { route: path.slice(1), methods: ['GET', 'HEAD', 'OPTIONS'],
 *     authLevel: 'anonymous', handler: resourceMetadataHandler(validator) })
 */
export function resourceMetadataHandler(validator: Validator): HttpHandler {
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      'entraguard: resourceMetadataHandler() needs a validator created with the resourceMetadata option',
    )
  }
  return function entraResourceMetadata(request): HttpResponseInit {
    const answer = metadata.respond(request.method)
    return { status: answer.status, headers: { ...answer.headers }, body: answer.body }
  }
}
