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
 * True when `aud` names Microsoft Graph in any cloud (its app ID or one of its URLs): the token was issued for
 * Graph, and only Graph can validate it.
 *
 * @example
 * isGraphAudience('https://graph.microsoft.com') // true
 */
export function isGraphAudience(aud: unknown): boolean {
  return typeof aud === 'string' && GRAPH_AUDIENCES.has(aud)
}

/** True for a token made for Microsoft Graph: a `nonce` in its header (only Graph's carry one) or Graph as `aud`. */
export function isGraphToken(header: Record<string, unknown>, aud: unknown): boolean {
  return header.nonce !== undefined || isGraphAudience(aud)
}

/** What an operator reads for a Graph token, whichever check refused it. */
function graphDetail(header: Record<string, unknown>, aud: unknown, audiences: ReadonlySet<string>): string {
  const list = [...audiences]
  const appIdUri =
    list.find((a) => !GUID.test(a)) ?? (list[0] === undefined ? '<App ID URI>' : `api://${list[0]}`)
  return `This is a token for Microsoft Graph, not for this API (aud ${shown(aud)}${header.nonce === undefined ? '' : ', a nonce in the header'}): Graph tokens can only be validated by Graph. The client must request a token for ${appIdUri}/.default (resource ${appIdUri} for managed identities)`
}

/**
 * Microsoft Graph tokens carry a `nonce` in the header and cannot be validated by anyone but Graph; a
 * client that sends one has asked for the wrong resource (the most common Entra mistake). Say so instead of
 * "bad signature". Decided from the header and the unverified `aud`, before any check that would hide it.
 */
export function graphTokenError(
  header: Record<string, unknown>,
  aud: unknown,
  audiences: ReadonlySet<string>,
): AuthError | undefined {
  if (!isGraphToken(header, aud)) return undefined
  return new AuthError('invalid_audience', {
    description: 'The token is for Microsoft Graph, not for this API',
    detail: graphDetail(header, aud, audiences),
  })
}

/**
 * For a token refused before its header and payload could be read strictly (too long, duplicate names, bad
 * UTF-8): the same error, with a detail that names Microsoft Graph when a lenient read shows a Graph token.
 * Runs on the refusal path only.
 */
export function namingGraph(err: AuthError, token: string, audiences: ReadonlySet<string>): AuthError {
  // Fewer than three segments, or a header that cannot be a JSON object ('{"' is "eyJ"), is garbage, not a
  // token anyone was issued: refused without decoding (issue 9).
  const first = token.indexOf('.')
  if (first === -1 || token.indexOf('.', first + 1) === -1 || !token.startsWith('eyJ')) return err
  const [h, p] = token.split('.', 2)
  const headerText = decodeText(h)
  const payloadText = decodeText(p)
  // Garbage is refused often and must stay cheap: parse only what mentions a nonce or a Graph audience.
  if (!headerText.includes('"nonce"') && !GRAPH_MENTION.test(payloadText)) return err
  const header = lenientObject(headerText)
  const payload = lenientObject(payloadText)
  if (header === undefined || !isGraphToken(header, payload?.aud)) return err
  return new AuthError(err.code, {
    description: err.description,
    detail: `${graphDetail(header, payload?.aud, audiences)}. ${err.detail}`,
    cause: err,
  })
}

const GRAPH_MENTION = /graph|00000003-0000-0000-c000-000000000000/i

function decodeText(segment: string | undefined): string {
  return segment === undefined ? '' : Buffer.from(segment, 'base64url').toString('utf8')
}

function lenientObject(text: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(text)
    return typeof value === 'object' && value !== null ? (value as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/** Checks `aud`: one string, compared exactly with the configured audiences. Returns the refusal. */
export function checkAudience(
  aud: unknown,
  version: 1 | 2,
  audiences: ReadonlySet<string>,
): AuthError | undefined {
  if (typeof aud === 'string' && audiences.has(aud)) return undefined
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
  return new AuthError('invalid_audience', {
    description: 'The token is not for this API (audience)',
    detail,
  })
}
