import { ConfigurationError, type ResourceMetadata, type Validator } from '@entraguard/core'
import type { MiddlewareHandler } from 'hono'

/** The RFC 9728 document's answer for this method, as the same bytes every adapter sends. */
export function metadataResponse(metadata: ResourceMetadata, method: string): Response {
  const answer = metadata.respond(method)
  return new Response(answer.body === '' ? null : answer.body, {
    status: answer.status,
    headers: answer.headers,
  })
}

/**
 * Serves the validator's RFC 9728 protected-resource metadata at its paths, for apps whose `entraAuth()` is
 * not mounted at the root (`app.use('/api/*', ...)`). `entraAuth()` at the root serves it by itself.
 *
 * @example
 * app.use(resourceMetadataHandler(validator))
 */
export function resourceMetadataHandler(validator: Validator): MiddlewareHandler {
  const metadata = validator.resourceMetadata
  if (metadata === undefined) {
    throw new ConfigurationError(
      'entraguard: resourceMetadataHandler() needs a validator created with the resourceMetadata option',
    )
  }
  return async function entraResourceMetadata(c, next) {
    if (metadata.paths.includes(c.req.path)) return metadataResponse(metadata, c.req.method)
    await next()
  }
}
