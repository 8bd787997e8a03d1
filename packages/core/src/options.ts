import { z } from 'zod'
import type { AuthEventHandler } from './events.js'
import { resourceMetadataSchema } from './resource-metadata.js'
import { formatIssues } from './zod-errors.js'

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const DOMAIN = /^(?=.{3,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i

/** Default authority host of each cloud. Only these are written into the code. */
export const CLOUD_AUTHORITIES = {
  public: 'https://login.microsoftonline.com',
  usgov: 'https://login.microsoftonline.us',
  china: 'https://login.partner.microsoftonline.cn',
} as const

/** An Azure cloud. */
export type Cloud = keyof typeof CLOUD_AUTHORITIES

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname)
}

/** True for https URLs, and for http URLs of loopback hosts (emulators, tests). */
export function isTrustedUrl(value: string): boolean {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || (url.protocol === 'http:' && isLoopbackHost(url.hostname))
  } catch {
    return false
  }
}

const ms = (what: string, min: number) =>
  z
    .number({ error: `${what} must be a number of milliseconds` })
    .int(`${what} must be a whole number of milliseconds`)
    .min(min, `${what} must be at least ${min} ms`)

const schema = z
  .object({
    tenant: z
      .string({
        error:
          "tenant is required: the tenant ID (GUID), a domain such as 'contoso.onmicrosoft.com', or 'organizations' / 'common' for a multi-tenant API",
      })
      .refine((t) => GUID.test(t) || DOMAIN.test(t) || t === 'organizations' || t === 'common', {
        error:
          "tenant must be a tenant ID (GUID), a verified domain such as 'contoso.onmicrosoft.com', or 'organizations' / 'common'",
      }),
    audience: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)], {
      error:
        "audience is required: the API's client ID (what v2 tokens carry in aud) and/or its App ID URI such as 'api://stock-api' (what v1 tokens carry)",
    }),
    allowedTenants: z
      .union([
        z.literal('any'),
        z
          .array(z.string().regex(GUID, 'allowedTenants holds tenant IDs (GUIDs)'))
          .min(1, 'allowedTenants must not be empty'),
      ])
      .optional(),
    cloud: z
      .enum(['public', 'usgov', 'china'], { error: "cloud must be 'public', 'usgov' or 'china'" })
      .default('public'),
    authority: z
      .string()
      .refine(isTrustedUrl, {
        error:
          'authority must be an https URL (plain http is accepted only for loopback hosts such as 127.0.0.1)',
      })
      .transform((a) => a.replace(/\/+$/, ''))
      .optional(),
    tokenVersions: z
      .array(z.union([z.literal(1), z.literal(2)]), { error: 'tokenVersions must be an array of 1 and/or 2' })
      .min(1, 'tokenVersions must name at least one version: [1], [2] or [1, 2]')
      .default([1, 2]),
    clockTolerance: z
      .number({ error: 'clockTolerance must be a number of seconds' })
      .min(0, 'clockTolerance must be at least 0 seconds')
      .max(3600, 'clockTolerance above one hour defeats expiry; 300 s is the Microsoft default')
      .default(300),
    allowedClientIds: z
      .array(z.string().min(1))
      .min(1, 'allowedClientIds must not be empty; leave it out to admit every client')
      .optional(),
    allowedIdentityTypes: z
      .array(z.enum(['app', 'user'], { error: "allowedIdentityTypes holds 'app' and/or 'user'" }))
      .min(1, 'allowedIdentityTypes must not be empty')
      .default(['app', 'user']),
    allowTokensWithoutScopesOrRoles: z.boolean().default(false),
    // Report-only roll-out: refusals become token.would_reject / access.would_deny events and requests go on.
    reportOnly: z.boolean({ error: 'reportOnly must be true or false' }).default(false),
    customSigningKeys: z.boolean().default(false),
    clientId: z.string().regex(GUID, "clientId is the API's application (client) ID, a GUID").optional(),
    cache: z
      .union([
        z.literal(false),
        z.object({
          maxEntries: z
            .number()
            .int()
            .min(1, 'cache.maxEntries must be at least 1; use cache: false to turn the cache off')
            .default(10_000),
        }),
      ])
      .default({ maxEntries: 10_000 }),
    jwks: z
      .object({
        refreshInterval: ms('jwks.refreshInterval', 100).default(60 * 60_000),
        cooldown: ms('jwks.cooldown', 0).default(5 * 60_000),
        timeout: ms('jwks.timeout', 1).default(5_000),
        maxBytes: z
          .number()
          .int()
          .min(1024, 'jwks.maxBytes must be at least 1024 bytes')
          .default(512 * 1024),
        maxStale: ms('jwks.maxStale', 100).default(24 * 60 * 60_000),
      })
      .default({
        refreshInterval: 60 * 60_000,
        cooldown: 5 * 60_000,
        timeout: 5_000,
        maxBytes: 512 * 1024,
        maxStale: 24 * 60 * 60_000,
      }),
    resourceMetadata: resourceMetadataSchema.optional(),
    fetch: z
      .custom<typeof fetch>((v) => typeof v === 'function', {
        error: 'fetch must be a fetch-compatible function',
      })
      .optional(),
    onEvent: z
      .custom<AuthEventHandler>((v) => typeof v === 'function', { error: 'onEvent must be a function' })
      .optional(),
    now: z
      .custom<() => number>((v) => typeof v === 'function', {
        error: 'now must be a function returning epoch milliseconds',
      })
      .optional(),
  })
  .strict()
  .superRefine((o, ctx) => {
    const multi = o.tenant === 'organizations' || o.tenant === 'common'
    if (multi && o.allowedTenants === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedTenants'],
        message: `allowedTenants is required with tenant '${o.tenant}': list the tenant IDs that may call this API, or write allowedTenants: 'any' to accept every tenant (the signature alone never proves the tenant)`,
      })
    }
    if (!multi && o.allowedTenants !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['allowedTenants'],
        message: `allowedTenants applies only to multi-tenant APIs (tenant 'organizations' or 'common'); a single-tenant API accepts its own tenant '${o.tenant}' only`,
      })
    }
    const audiences = typeof o.audience === 'string' ? [o.audience] : o.audience
    if (o.customSigningKeys && o.clientId === undefined && !audiences.some((a) => GUID.test(a))) {
      ctx.addIssue({
        code: 'custom',
        path: ['clientId'],
        message:
          "customSigningKeys needs the API's client ID (for the keys URL's ?appid=): set clientId or list the client ID in audience",
      })
    }
  })

/**
 * Options of {@link createValidator}. Durations in `jwks` are milliseconds; `clockTolerance` is seconds.
 */
export type ValidatorOptions = z.input<typeof schema>
/**
 * Per-call options of `validator.validate()`.
 *
 * @example
 * await validator.validate(header, { reportOnly: true, context: { method: 'GET', route: '/stocks' } })
 */
export interface ValidateOptions {
  /**
   * Report a refusal as `token.would_reject` instead of `token.rejected`. `validate()` still rejects (a bad
   * token never yields a principal); `authenticate()` is what lets the request go on. Default: the
   * validator's `reportOnly`.
   */
  reportOnly?: boolean | undefined
  /** Where the token came, added to the refusal's event: the method and the route pattern. */
  context?: { method?: string | undefined; route?: string | undefined } | undefined
}

/** {@link ValidatorOptions} after defaults. */
export type ResolvedValidatorOptions = z.output<typeof schema>

/** Thrown by {@link createValidator} and {@link createPolicy} for a wrong option: a programming error. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError'
}

export function parseValidatorOptions(input: unknown): ResolvedValidatorOptions {
  const result = schema.safeParse(input)
  if (!result.success) {
    throw new ConfigurationError(
      `Invalid entraguard validator options:\n${formatIssues(result.error, 'options')}`,
    )
  }
  return result.data
}
