import { z } from 'zod'

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

// The resource identifier is kept verbatim (a string, never URL#href, which adds a trailing slash to a bare
// origin): Entra compares the client's RFC 8707 `resource` with the App ID URI character for character.
function checkResource(value: string, ctx: z.RefinementCtx): void {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    ctx.addIssue({
      code: 'custom',
      message: `resource must be an absolute URL such as 'https://api.contoso.com/mcp'`,
    })
    return
  }
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && isLoopback(url.hostname))) {
    ctx.addIssue({
      code: 'custom',
      message: 'resource must be an https URL (plain http only for loopback hosts such as 127.0.0.1)',
    })
  }
  if (value.includes('#')) {
    ctx.addIssue({ code: 'custom', message: 'resource must not have a fragment (RFC 9728 §2)' })
  }
  if (url.search !== '') {
    ctx.addIssue({ code: 'custom', message: 'resource must not have a query (RFC 9728 §2)' })
  }
  if (value.endsWith('/')) {
    ctx.addIssue({
      code: 'custom',
      message: `resource must not end with '/': Entra App ID URIs cannot, so a client asking for '${value}' fails with AADSTS9010010; write '${value.replace(/\/+$/, '')}'`,
    })
  }
}

/** The `resourceMetadata` validator option's schema (RFC 9728 protected-resource metadata). */
export const resourceMetadataSchema = z
  .object({
    resource: z.string({ error: 'resourceMetadata.resource is required' }).superRefine(checkResource),
    scopes: z
      .array(
        z
          .string()
          .min(1)
          .regex(/^[^\s"\\/]+$/, 'scopes are short names such as Stocks.Read'),
      )
      .optional(),
    resourceName: z.string().min(1).optional(),
    resourceDocumentation: z
      .string()
      .refine((v) => URL.canParse(v), 'resourceDocumentation must be an absolute URL')
      .optional(),
  })
  .strict()

/** Options of RFC 9728 protected-resource metadata (the validator's `resourceMetadata` option). */
export type ResourceMetadataOptions = z.input<typeof resourceMetadataSchema>

/** The protected-resource metadata of an API, built once from the validator's configuration. */
export interface ResourceMetadata {
  /** The RFC 9728 document; members without a value are left out. */
  readonly document: Readonly<Record<string, unknown>>
  /** Where the document lives (RFC 9728 §3.1): what challenges name in `resource_metadata`. */
  readonly url: string
  /** The request paths that serve the document (the path form of `url`, and the root form). */
  readonly paths: readonly string[]
  /** The full form of scope or role names, as clients must request them: `<App ID URI>/<name>`. */
  fullScope(names: readonly string[]): string
  /**
   * The HTTP answer for a request to one of `paths`: the same status, headers and bytes in every adapter
   * (CORS `*`, GET / HEAD / OPTIONS).
   */
  respond(method: string): { status: number; headers: Readonly<Record<string, string>>; body: string }
}

/**
 * Builds the protected-resource metadata document of an API. `authorization_servers` holds the tenant's v2.0
 * issuer for the authority; scopes are advertised in the full form `<App ID URI>/<name>`, with the App ID URI
 * taken from `audience` when it lists one (a value that is not a GUID), else the resource.
 *
 * @example
 * const metadata = createResourceMetadata({ resource: 'https://api.contoso.com/mcp', scopes: ['Stocks.Read'] },
 *   { authority: 'https://login.microsoftonline.com', tenant: '<tenant id>', audiences: ['<client id>'] })
 * metadata.url // 'https://api.contoso.com/.well-known/oauth-protected-resource/mcp'
 */
export function createResourceMetadata(
  options: ResourceMetadataOptions,
  config: { authority: string; tenant: string; audiences: readonly string[] },
): ResourceMetadata {
  const o = resourceMetadataSchema.parse(options)
  const base = new URL(o.resource)
  const path = base.pathname === '/' ? '' : base.pathname
  const wellKnown = '/.well-known/oauth-protected-resource'
  const url = `${base.origin}${wellKnown}${path}`
  const paths = path === '' ? [wellKnown] : [`${wellKnown}${path}`, wellKnown]
  const appIdUri = config.audiences.find((a) => !GUID.test(a)) ?? o.resource
  const full = (name: string) => `${appIdUri}/${name}`
  const document: Record<string, unknown> = {
    resource: o.resource,
    authorization_servers: [`${config.authority}/${config.tenant}/v2.0`],
    ...(o.scopes !== undefined && o.scopes.length > 0 ? { scopes_supported: o.scopes.map(full) } : {}),
    bearer_methods_supported: ['header'],
    ...(o.resourceName !== undefined ? { resource_name: o.resourceName } : {}),
    ...(o.resourceDocumentation !== undefined ? { resource_documentation: o.resourceDocumentation } : {}),
  }
  const body = JSON.stringify(document)
  const cors = { 'Access-Control-Allow-Origin': '*' }
  const answers = {
    get: Object.freeze({
      status: 200,
      headers: Object.freeze({
        ...cors,
        'Content-Type': 'application/json; charset=utf-8',
        'Cache-Control': 'public, max-age=3600',
      }),
      body,
    }),
    options: Object.freeze({
      status: 204,
      headers: Object.freeze({
        ...cors,
        'Access-Control-Allow-Methods': 'GET, HEAD, OPTIONS',
        'Access-Control-Allow-Headers': '*',
        'Access-Control-Max-Age': '86400',
      }),
      body: '',
    }),
    other: Object.freeze({
      status: 405,
      headers: Object.freeze({ ...cors, Allow: 'GET, HEAD, OPTIONS' }),
      body: '',
    }),
  }
  return Object.freeze({
    document: Object.freeze(document),
    url,
    paths: Object.freeze(paths),
    fullScope: (names: readonly string[]) => names.map(full).join(' '),
    respond(method: string) {
      const m = method.toUpperCase()
      if (m === 'GET') return answers.get
      if (m === 'HEAD') return { ...answers.get, body: '' }
      if (m === 'OPTIONS') return answers.options
      return answers.other
    },
  })
}
