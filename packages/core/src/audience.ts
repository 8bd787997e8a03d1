import { AuthError } from './errors.js'
import { GUID } from './options.js'

const GRAPH_AUDIENCES = new Set([
  '00000003-0000-0000-c000-000000000000',
  'https://graph.microsoft.com',
  'https://graph.microsoft.com/',
  'https://graph.microsoft.us',
  'https://graph.microsoft.us/',
  'https://dod-graph.microsoft.us',
  'https://microsoftgraph.chinacloudapi.cn',
])

/** Shortens a value taken from an untrusted token before it goes into an error. */
export function shown(value: unknown): string {
  const text = typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  return text.length > 120 ? `${text.slice(0, 120)}…` : text
}

/**
 * Microsoft Graph tokens carry a `nonce` in the header and cannot be validated by anyone but Graph; a
 * client that sends one has asked for the wrong resource. Say so instead of "bad signature".
 */
export function graphTokenError(
  header: Record<string, unknown>,
  aud: unknown,
  audiences: ReadonlySet<string>,
): AuthError | undefined {
  if (typeof aud === 'string' && audiences.has(aud)) return undefined
  const graphAudience = typeof aud === 'string' && GRAPH_AUDIENCES.has(aud)
  if (!graphAudience && header.nonce === undefined) return undefined
  return new AuthError('invalid_audience', {
    description: 'The token is for Microsoft Graph, not for this API',
    detail: `The client sent a token for Microsoft Graph (aud ${shown(aud)}${header.nonce === undefined ? '' : ', a nonce in the header'}). Graph tokens can only be validated by Graph. The client must ask for a token for this API: scope '<App ID URI>/.default' (or resource '<App ID URI>' for managed identities), e.g. ${[...audiences].map((a) => `'${a}'`).join(' or ')}`,
  })
}

/** Checks `aud`: one string, compared exactly with the configured audiences. */
export function checkAudience(aud: unknown, version: 1 | 2, audiences: ReadonlySet<string>): void {
  if (typeof aud === 'string' && audiences.has(aud)) return
  const accepted = [...audiences].map((a) => `'${a}'`).join(', ')
  let detail: string
  if (Array.isArray(aud)) {
    detail = `aud is an array (${shown(aud)}); Entra access tokens carry exactly one audience, and this API accepts ${accepted}`
  } else if (typeof aud !== 'string') {
    detail = `The token has no aud claim; this API accepts ${accepted}`
  } else {
    const near = [...audiences].find(
      (a) => a.toLowerCase() === aud.toLowerCase() || a.replace(/\/+$/, '') === aud.replace(/\/+$/, ''),
    )
    const hint =
      near !== undefined
        ? ` It differs from '${near}' only in case or a trailing slash: the client asked for a slightly different resource string; audiences are compared exactly, so fix the client's resource/scope or add '${shown(aud)}' to audience.`
        : version === 1
          ? ` v1 tokens carry as aud exactly the resource the client asked for (the App ID URI such as 'api://…', or the client ID); ${GUID.test(aud) ? 'this looks like a client ID: if it is this API’s, add it to audience' : 'if this is the API’s App ID URI, add it to audience'}; otherwise the client asked for a token for another API.`
          : ` v2 tokens carry the API's client ID (GUID) as aud; ${GUID.test(aud) ? 'if this is the client ID of this API, add it to audience; otherwise the token was issued for another API' : 'an App ID URI in a v2 token means the app registration is unusual; check accessTokenAcceptedVersion (api.requestedAccessTokenVersion) in the manifest'}.`
    detail = `aud is '${shown(aud)}', this API accepts ${accepted}.${hint} The API's manifest setting accessTokenAcceptedVersion decides whether clients get v1 (aud = requested resource) or v2 (aud = client ID) tokens.`
  }
  throw new AuthError('invalid_audience', { description: 'The token is not for this API (audience)', detail })
}
