import { createHmac, createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { type AuthEvent, createValidator } from '@entraguard/core'
import type { Emulator } from '@entraguard/emulator'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startTokenLab, type TokenLab } from './fuzz/lab.js'
import { FRAMEWORKS, type RunningApi, startApi, startScenarioApi } from './support/apps.js'
import { type Canary, startCanary } from './support/canary.js'
import { send } from './support/http.js'
import { API_CLIENT_ID, API_URI, startScenarioEmulator } from './support/scenario.js'

// The attack corpus (issue 8): security-notes §1, security-testing.md §1 and §6 A–C, and the classics, one
// table over real HTTP against every adapter in FRAMEWORKS. Each case names the exact answer: status,
// WWW-Authenticate, JSON body, and that no part of the token comes back.

let emu: Emulator
let lab: TokenLab
let canary: Canary
/** The scenario app's published public key, as an attacker fetches it. */
let realJwk: { kid: string; n: string; e: string; x5c: string[] }

beforeAll(async () => {
  ;[emu, lab, canary] = await Promise.all([startScenarioEmulator(), startTokenLab(), startCanary()])
  const set = (await (await fetch(`${emu.authority}/${emu.tenantId}/discovery/v2.0/keys`)).json()) as {
    keys: (typeof realJwk)[]
  }
  realJwk = set.keys[0] as typeof realJwk
})
afterAll(async () => {
  await Promise.all([emu.close(), lab.close(), canary.close()])
})

// ---------------------------------------------------------------------------------------------------------
// Token builders

const OTHER_TENANT = '11111111-2222-4333-8444-555555555555'
const MSA_TENANT = '9188040d-6c67-4c5b-b112-36a304b66dad'
const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url')
const parts = (t: string) => t.split('.') as [string, string, string]
const payloadOf = (t: string) =>
  JSON.parse(Buffer.from(parts(t)[1], 'base64url').toString()) as Record<string, unknown>
/** A valid v1 token of the reader VM (role Stocks.Read), from the emulator. */
const mint = (o: Parameters<Emulator['mintToken']>[0] = {}) =>
  emu.mintToken({ managedIdentity: 'reader-vm', audience: API_URI, ...o })
const valid = () => mint()
const withClaims = (claims: Record<string, unknown>) => mint({ claims })
const withHeader = (header: Record<string, unknown>) => mint({ header })
/** The valid token's payload with `raw` JSON members spliced in first, signed by the lab's real key. */
const labWith = (raw: string, version: 1 | 2 = 1) =>
  lab.signBytes(lab.headerJson(), JSON.stringify(lab.claims(version)).replace('{', `{${raw},`))
/** The lab's valid payload text with `from` replaced by raw text (for numbers JSON.stringify cannot write). */
const labReplacing = (from: RegExp, to: string) =>
  lab.signBytes(lab.headerJson(), JSON.stringify(lab.claims(1)).replace(from, to))
/** Lab payload bytes with `bytes` in the middle of a claim value. */
const labBytes = (bytes: number[]) => {
  const text = JSON.stringify(lab.claims(1, { name: 'MARK' }))
  const at = text.indexOf('MARK')
  return lab.signBytes(
    lab.headerJson(),
    Buffer.concat([Buffer.from(text.slice(0, at)), Buffer.from(bytes), Buffer.from(text.slice(at + 4))]),
  )
}

/** The attacker's own RSA key pair: made once (key generation is slow), published nowhere. */
let attackerKeys: { privateKey: KeyObject; publicKey: KeyObject } | undefined
function attackerSigned(header: Record<string, unknown>, payload: Record<string, unknown>) {
  attackerKeys ??= generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { privateKey, publicKey } = attackerKeys
  const jwk = publicKey.export({ format: 'jwk' })
  const input = `${b64({ typ: 'JWT', alg: 'RS256', ...header, ...(header.jwk === true ? { jwk } : {}) })}.${b64(payload)}`
  return `${input}.${sign('RSA-SHA256', Buffer.from(input), privateKey).toString('base64url')}`
}

/** HMAC over a valid payload with the real public key in some text form as the secret (key confusion). */
function hmacWith(alg: 'HS256' | 'HS384' | 'HS512', secret: string | Buffer) {
  const input = `${b64({ typ: 'JWT', alg, kid: realJwk.kid })}.${parts(valid())[1]}`
  const hash = { HS256: 'sha256', HS384: 'sha384', HS512: 'sha512' }[alg]
  return `${input}.${createHmac(hash, secret).update(input).digest('base64url')}`
}
const realKey = () => createPublicKey({ key: { kty: 'RSA', n: realJwk.n, e: realJwk.e }, format: 'jwk' })
const spkiPem = () => realKey().export({ type: 'spki', format: 'pem' }).toString()

/** A valid token whose signature is replaced. */
const resigned = (signature: string) => `${parts(valid())[0]}.${parts(valid())[1]}.${signature}`
/** Flips the low bit of byte `at` (from the end when negative). */
const flipBit = (segment: string, at: number) => {
  const bytes = Buffer.from(segment, 'base64url')
  const i = at < 0 ? bytes.length + at : at % bytes.length
  bytes[i] = (bytes[i] as number) ^ 0x01
  return bytes.toString('base64url')
}

// ---------------------------------------------------------------------------------------------------------
// Expected answers

interface Expected {
  status: number
  /** The exact WWW-Authenticate value, or null for none. */
  challenge: string | null
  /** The exact JSON body, or null when the framework or Node answers with a body of its own. */
  body: { error: string; error_description: string } | null
}

const invalidToken = (description: string): Expected => ({
  status: 401,
  challenge: `Bearer error="invalid_token", error_description="${description}"`,
  body: { error: 'invalid_token', error_description: description },
})
const MALFORMED = invalidToken('The token is malformed')
const ALGORITHM = invalidToken('The token is signed with an unsupported algorithm')
const SIGNATURE = invalidToken('The token signature is invalid')
const UNKNOWN_KEY = invalidToken('The token is signed with an unknown key')
const EXPIRED = invalidToken('The token is expired')
const NOT_YET = invalidToken('The token is not valid yet')
const ISSUER = invalidToken('The token issuer is invalid')
const TENANT = invalidToken('The token is from a tenant that may not call this API')
const AUDIENCE = invalidToken('The token is not for this API (audience)')
const GRAPH = invalidToken('The token is for Microsoft Graph, not for this API')
const NO_SCOPE_OR_ROLE: Expected = {
  status: 403,
  challenge:
    'Bearer error="insufficient_scope", error_description="The token carries neither scopes nor roles"',
  body: { error: 'insufficient_scope', error_description: 'The token carries neither scopes nor roles' },
}
const MISSING: Expected = {
  status: 401,
  challenge: 'Bearer',
  body: { error: 'missing_token', error_description: 'No bearer token was sent' },
}
const badRequest = (description: string): Expected => ({
  status: 400,
  challenge: `Bearer error="invalid_request", error_description="${description}"`,
  body: { error: 'invalid_request', error_description: description },
})
const HEADER_MALFORMED = badRequest('The Authorization header is malformed')
const TWO_HEADERS = badRequest('The request carries more than one Authorization header')
const EMPTY_BEARER = badRequest('The bearer token is empty')
const TWO_METHODS = badRequest('The token was sent in more than one way')
const WRITE_DENIED: Expected = {
  status: 403,
  challenge:
    'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="Stocks.Write"',
  body: { error: 'insufficient_scope', error_description: 'The token lacks the required role' },
}
const OK: Expected = { status: 200, challenge: null, body: null }
const HEADERS_TOO_LARGE: Expected = { status: 431, challenge: null, body: null }

// ---------------------------------------------------------------------------------------------------------
// The corpus

/** Which API a case runs against: the emulator's (default), the token lab's, or a multi-tenant one. */
type Target = 'emu' | 'lab' | 'multi'

interface Attack {
  group: string
  name: string
  /** The token sent as `Authorization: Bearer <token>`, unless `request` says otherwise. */
  token?: () => string
  /** A whole request, for header-level attacks. */
  request?: () => {
    headers: Record<string, string | string[]>
    path?: string
    method?: string
    body?: string
  }
  target?: Target
  expect: Expected
}

const lure = (what: string) => canary.url(what)
const A = (group: string, name: string, expect: Expected, token: () => string, target?: Target): Attack => ({
  group,
  name,
  expect,
  token,
  ...(target === undefined ? {} : { target }),
})

const attacks: Attack[] = [
  // security-notes §1, the original 18
  A('notes §1', 'A1 alg none', MALFORMED, () => `${b64({ alg: 'none', typ: 'JWT' })}.${parts(valid())[1]}.`),
  A('notes §1', 'A2 HS256 signed with the public key', ALGORITHM, () =>
    hmacWith('HS256', 'any public key material'),
  ),
  A('notes §1', 'A3 embedded jwk header', UNKNOWN_KEY, () =>
    attackerSigned({ jwk: true, kid: 'attacker' }, payloadOf(valid())),
  ),
  A('notes §1', 'A4 jku header to the canary', UNKNOWN_KEY, () =>
    attackerSigned({ jku: lure('jku'), kid: 'attacker' }, payloadOf(valid())),
  ),
  A('notes §1', 'A6 kid path traversal', UNKNOWN_KEY, () =>
    attackerSigned({ kid: '../../../../dev/null' }, payloadOf(valid())),
  ),
  A('notes §1', 'A8 signature stripped', MALFORMED, () => `${parts(valid())[0]}.${parts(valid())[1]}.`),
  A('notes §1', 'A8 payload spliced from another token', SIGNATURE, () =>
    resigned(parts(valid())[2]).replace(
      parts(valid())[1],
      b64({ ...payloadOf(valid()), roles: ['Stocks.Write'] }),
    ),
  ),
  A('notes §1', 'A12 exp far in the past', EXPIRED, () => mint({ expiresIn: -86_400 })),
  A('notes §1', 'A12 nbf in the future', NOT_YET, () => mint({ notBefore: 3_600 })),
  A('notes §1', 'A13 token for Microsoft Graph', GRAPH, () =>
    mint({ audience: 'https://graph.microsoft.com', header: { nonce: 'x' } }),
  ),
  A('notes §1', 'A14 iss of another tenant', ISSUER, () => mint({ tenant: OTHER_TENANT })),
  A('notes §1', 'A15 iss/tid mismatch', ISSUER, () => withClaims({ tid: OTHER_TENANT })),
  A('notes §1', 'A19 JWE (five parts)', MALFORMED, () => 'eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d'),
  A('notes §1', 'A20 crit header', MALFORMED, () => withHeader({ crit: ['exp'] })),
  A('notes §1', 'A21 b64:false', MALFORMED, () => withHeader({ b64: false, crit: ['b64'] })),
  A('notes §1', 'A25 padded signature', MALFORMED, () => `${valid()}==`),
  A('notes §1', 'A25 non-canonical last character', MALFORMED, () => {
    const t = valid()
    const last = t[t.length - 1] as string
    return `${t.slice(0, -1)}${last === 'A' ? 'B' : String.fromCharCode(last.charCodeAt(0) ^ 1)}`
  }),
  A('notes §1', 'A17 an ID token for another audience', AUDIENCE, () =>
    emu.mintToken({ audience: 'client-app-id', identity: 'user', scopes: ['openid'] }),
  ),

  // The classics (jwt_tool playbook, security-notes A1–A11)
  ...['None', 'NONE', 'nOnE'].map((alg) =>
    A(
      'classics',
      `alg ${alg} with the real kid and no signature`,
      MALFORMED,
      () => `${b64({ alg, typ: 'JWT', kid: realJwk.kid })}.${parts(valid())[1]}.`,
    ),
  ),
  A('classics', 'alg none with the original signature kept', ALGORITHM, () =>
    resigned(parts(valid())[2]).replace(parts(valid())[0], b64({ alg: 'none', typ: 'JWT' })),
  ),
  A('classics', 'embedded jwk under the real kid', SIGNATURE, () =>
    attackerSigned({ jwk: true, kid: realJwk.kid }, payloadOf(valid())),
  ),
  A('classics', 'x5u to the canary', UNKNOWN_KEY, () =>
    attackerSigned({ x5u: lure('x5u'), kid: 'x' }, payloadOf(valid())),
  ),
  A('classics', 'x5c self-signed chain under the real kid', SIGNATURE, () =>
    attackerSigned({ x5c: realJwk.x5c, kid: realJwk.kid, x5t: realJwk.kid }, payloadOf(valid())),
  ),
  A('classics', 'jku + x5u + jwk together, unknown kid', UNKNOWN_KEY, () =>
    attackerSigned(
      { jku: lure('jku2'), x5u: lure('x5u2'), jwk: true, kid: 'attacker-2' },
      payloadOf(valid()),
    ),
  ),
  A('classics', 'kid /dev/null', UNKNOWN_KEY, () => attackerSigned({ kid: '/dev/null' }, payloadOf(valid()))),
  A('classics', 'kid SQL injection', MALFORMED, () =>
    attackerSigned({ kid: "x' UNION SELECT '1';--" }, payloadOf(valid())),
  ),
  A('classics', 'kid command injection', MALFORMED, () =>
    attackerSigned({ kid: '|sleep 10' }, payloadOf(valid())),
  ),
  A('classics', 'kid of 10,000 characters', MALFORMED, () =>
    attackerSigned({ kid: 'k'.repeat(10_000) }, payloadOf(valid())),
  ),
  A('classics', 'kid a number', MALFORMED, () => attackerSigned({ kid: 1 }, payloadOf(valid()))),
  A('classics', 'kid an array holding the real kid', MALFORMED, () =>
    attackerSigned({ kid: [realJwk.kid] }, payloadOf(valid())),
  ),
  A('classics', 'kid empty', MALFORMED, () => attackerSigned({ kid: '' }, payloadOf(valid()))),
  A('classics', 'kid a canary URL', MALFORMED, () =>
    attackerSigned({ kid: lure('kid') }, payloadOf(valid())),
  ),
  A('classics', 'A7 attacker key under the real kid', SIGNATURE, () =>
    attackerSigned({ kid: realJwk.kid }, payloadOf(valid())),
  ),
  A('classics', 'A8 two segments', MALFORMED, () => `${parts(valid())[0]}.${parts(valid())[1]}`),
  A('classics', 'A8 signature of another token', SIGNATURE, () =>
    resigned(parts(mint({ claims: { uti: 'other' } }))[2]),
  ),
  A('classics', 'A8 one bit flipped in the payload', SIGNATURE, () => {
    const [h, p, s] = parts(valid())
    return `${h}.${flipBit(p, -3)}.${s}`
  }),
  A('classics', 'A8 one bit flipped in the signature', SIGNATURE, () =>
    resigned(flipBit(parts(valid())[2], 100)),
  ),
  A(
    'classics',
    'A9 ES256 with a zero signature',
    ALGORITHM,
    () =>
      `${b64({ alg: 'ES256', typ: 'JWT', kid: realJwk.kid })}.${parts(valid())[1]}.${Buffer.alloc(64).toString('base64url')}`,
  ),
  A(
    'classics',
    'A11 PS256 signed by the real key',
    ALGORITHM,
    () =>
      lab.signBytes(lab.headerJson({ alg: 'PS256' }), JSON.stringify(lab.claims()), {
        hash: 'sha256',
        padding: 6,
        saltLength: 32,
      }),
    'lab',
  ),
  A(
    'classics',
    'A11 RS384 signed by the real key',
    ALGORITHM,
    () => lab.signBytes(lab.headerJson({ alg: 'RS384' }), JSON.stringify(lab.claims()), { hash: 'sha384' }),
    'lab',
  ),
  A(
    'classics',
    'A11 RS512 signed by the real key',
    ALGORITHM,
    () => lab.signBytes(lab.headerJson({ alg: 'RS512' }), JSON.stringify(lab.claims()), { hash: 'sha512' }),
    'lab',
  ),
  A('classics', 'A13 Graph nonce with this API as aud', GRAPH, () => withHeader({ nonce: 'graph-nonce' })),
  A('classics', 'A13 Graph client ID as aud', GRAPH, () =>
    mint({ audience: '00000003-0000-0000-c000-000000000000' }),
  ),
  A('classics', 'A13 another API', AUDIENCE, () => mint({ audience: 'api://other-api' })),
  A('classics', 'A13 aud as an array holding ours', AUDIENCE, () =>
    withClaims({ aud: [API_URI, 'api://other'] }),
  ),
  A('classics', 'A13 aud an empty array', AUDIENCE, () => withClaims({ aud: [] })),
  A('classics', 'A13 aud with a trailing slash', AUDIENCE, () => withClaims({ aud: `${API_URI}/` })),
  A('classics', 'A13 aud in other case', AUDIENCE, () => withClaims({ aud: API_URI.toUpperCase() })),
  A('classics', 'A14 iss is the common template', ISSUER, () =>
    withClaims({ iss: 'https://sts.windows.net/{tenantid}/' }),
  ),
  A('classics', 'A14 iss names organizations', ISSUER, () =>
    withClaims({ iss: 'https://login.microsoftonline.com/organizations/v2.0', ver: '2.0' }),
  ),
  A('classics', 'A14 personal-account tenant', ISSUER, () => mint({ tenant: MSA_TENANT })),
  A('classics', 'A18 ver 3.0', ISSUER, () => withClaims({ ver: '3.0' })),
  A('classics', 'A18 v1 issuer that says ver 2.0', ISSUER, () => withClaims({ ver: '2.0' })),
  A('classics', 'A18 v2 issuer that says ver 1.0', ISSUER, () =>
    mint({ version: 2, claims: { ver: '1.0' } }),
  ),
  {
    group: 'classics',
    name: 'A23 a signed "__proto__" holding roles grants no role',
    target: 'lab',
    expect: WRITE_DENIED,
    request: () => ({
      method: 'POST',
      headers: { authorization: `Bearer ${labWith('"__proto__":{"roles":["Stocks.Write"]}')}` },
    }),
  },

  // security-testing.md §1: advisories 2022–2026
  ...(
    [
      ['SPKI PEM', () => spkiPem()],
      ['SPKI PEM with a leading newline', () => `\n${spkiPem()}`],
      ['SPKI PEM with a leading space', () => ` ${spkiPem()}`],
      ['SPKI PEM after a #', () => `#${spkiPem()}`],
      ['SPKI PEM after a zero-width space', () => `\u200b${spkiPem()}`],
      ['PKCS#1 PEM', () => realKey().export({ type: 'pkcs1', format: 'pem' }).toString()],
      ['DER', () => realKey().export({ type: 'spki', format: 'der' })],
      ['x5c base64', () => realJwk.x5c[0] as string],
      ['the JWK as JSON', () => JSON.stringify({ kty: 'RSA', n: realJwk.n, e: realJwk.e })],
      ['an empty secret', () => ''],
    ] as const
  ).map(([form, secret]) =>
    A('advisories §1', `HS256 keyed with the real key as ${form}`, ALGORITHM, () =>
      hmacWith('HS256', secret()),
    ),
  ),
  A('advisories §1', 'HS384 keyed with the SPKI PEM', ALGORITHM, () => hmacWith('HS384', spkiPem())),
  A('advisories §1', 'HS512 keyed with the SPKI PEM', ALGORITHM, () => hmacWith('HS512', spkiPem())),
  A('advisories §1', 'crit []', MALFORMED, () => withHeader({ crit: [] })),
  A('advisories §1', 'crit "b64"', MALFORMED, () => withHeader({ crit: 'b64' })),
  A('advisories §1', 'crit ["alg"]', MALFORMED, () => withHeader({ crit: ['alg'] })),
  A('advisories §1', 'aud of 10,000 characters (ReDoS bait)', AUDIENCE, () =>
    withClaims({ aud: `${'a'.repeat(9_990)}!` }),
  ),
  A('advisories §1', 'expired and a bad signature → the signature class', SIGNATURE, () => {
    const [h, p, s] = parts(mint({ expiresIn: -3600 }))
    return `${h}.${p}.${flipBit(s, 7)}`
  }),
  A('advisories §1', '8 KB of dots', MALFORMED, () => '.'.repeat(8_000)),
  A('advisories §1', 'iss = expected + "x"', ISSUER, () =>
    withClaims({ iss: `https://sts.windows.net/${emu.tenantId}/x` }),
  ),
  A('advisories §1', 'iss without the trailing slash', ISSUER, () =>
    withClaims({ iss: `https://sts.windows.net/${emu.tenantId}` }),
  ),
  A('advisories §1', 'iss in upper case', ISSUER, () =>
    withClaims({ iss: `https://STS.WINDOWS.NET/${emu.tenantId}/` }),
  ),
  A('advisories §1', 'iss a prefix of the expected', ISSUER, () =>
    withClaims({ iss: 'https://sts.windows.net/' }),
  ),
  A(
    'advisories §1',
    'JWE with zip DEF and a huge p2c',
    MALFORMED,
    () => `${b64({ alg: 'PBES2-HS256+A128KW', enc: 'A128GCM', zip: 'DEF', p2c: 1e9 })}.a.b.c.d`,
  ),
  A('advisories §1', 'RS256 signature of one zero byte', SIGNATURE, () => resigned('AA')),
  A('advisories §1', 'RS256 signature of 255 bytes', SIGNATURE, () =>
    resigned(Buffer.from(parts(valid())[2], 'base64url').subarray(1).toString('base64url')),
  ),
  A('advisories §1', 'RS256 signature of 257 bytes', SIGNATURE, () =>
    resigned(
      Buffer.concat([Buffer.from([0]), Buffer.from(parts(valid())[2], 'base64url')]).toString('base64url'),
    ),
  ),
  A('advisories §1', 'RS256 signature equal to the modulus', SIGNATURE, () => resigned(realJwk.n)),
  A('advisories §1', 'RS256 signature of 9,000 bytes', SIGNATURE, () =>
    resigned(Buffer.alloc(9_000, 7).toString('base64url')),
  ),

  // security-testing.md §6 A: token syntax and parsing
  A('plan A syntax', 'one segment', MALFORMED, () => parts(valid())[1]),
  A('plan A syntax', 'four segments', MALFORMED, () => `${valid()}.${parts(valid())[2]}`),
  A('plan A syntax', 'flattened JSON serialization', TWO_HEADERS, () =>
    JSON.stringify({
      protected: parts(valid())[0],
      payload: parts(valid())[1],
      signature: parts(valid())[2],
    }),
  ),
  A('plan A syntax', 'standard base64 alphabet in the signature', MALFORMED, () =>
    resigned(Buffer.from(parts(valid())[2], 'base64url').toString('base64').replace(/=+$/, '')),
  ),
  A('plan A syntax', '%2E instead of a dot', HEADER_MALFORMED, () => valid().replace('.', '%2E')),
  A('plan A syntax', 'padding on the header', HEADER_MALFORMED, () => valid().replace('.', '==.')),
  A('plan A syntax', 'payload with an overlong "/" (C0 AF)', MALFORMED, () => labBytes([0xc0, 0xaf]), 'lab'),
  A('plan A syntax', 'payload with a lone 0x80', MALFORMED, () => labBytes([0x80]), 'lab'),
  A(
    'plan A syntax',
    'payload with an encoded surrogate',
    MALFORMED,
    () => labBytes([0xed, 0xa0, 0x80]),
    'lab',
  ),
  A(
    'plan A syntax',
    'payload with a UTF-8 BOM',
    MALFORMED,
    () =>
      lab.signBytes(
        lab.headerJson(),
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(JSON.stringify(lab.claims()))]),
      ),
    'lab',
  ),
  A(
    'plan A syntax',
    'header with a UTF-8 BOM',
    MALFORMED,
    () =>
      lab.signBytes(
        Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(lab.headerJson())]),
        JSON.stringify(lab.claims()),
      ),
    'lab',
  ),
  A(
    'plan A syntax',
    'duplicate tid (last one ours)',
    MALFORMED,
    () => labWith(`"tid":"${OTHER_TENANT}"`),
    'lab',
  ),
  A('plan A syntax', 'duplicate aud (last one ours)', MALFORMED, () => labWith('"aud":"api://other"'), 'lab'),
  A('plan A syntax', 'duplicate exp, \\u-escaped', MALFORMED, () => labWith('"\\u0065xp":1'), 'lab'),
  A(
    'plan A syntax',
    'duplicate roles, \\u-escaped',
    MALFORMED,
    () => labWith('"r\\u006fles":["Stocks.Write"]'),
    'lab',
  ),
  A('plan A syntax', 'duplicate iss', MALFORMED, () => labWith('"iss":"https://evil.example/"'), 'lab'),
  A(
    'plan A syntax',
    'duplicate alg in the header',
    MALFORMED,
    () => lab.signBytes(lab.headerJson().replace('{', '{"alg":"none",'), JSON.stringify(lab.claims())),
    'lab',
  ),
  A(
    'plan A syntax',
    'duplicate kid in the header, escaped',
    MALFORMED,
    () => lab.signBytes(lab.headerJson().replace('{', '{"\\u006bid":"other",'), JSON.stringify(lab.claims())),
    'lab',
  ),
  A(
    'plan A syntax',
    'duplicate name in a nested custom claim',
    MALFORMED,
    () => labWith('"x":{"a":[{"b":1,"b":2}]}'),
    'lab',
  ),
  A(
    'plan A syntax',
    'header is an array',
    MALFORMED,
    () => `${b64([{ alg: 'RS256' }])}.${parts(valid())[1]}.${parts(valid())[2]}`,
  ),
  A(
    'plan A syntax',
    'payload is a string',
    MALFORMED,
    () => lab.signBytes(lab.headerJson(), '"claims"'),
    'lab',
  ),
  A('plan A syntax', 'payload is a number', MALFORMED, () => lab.signBytes(lab.headerJson(), '42'), 'lab'),
  A('plan A syntax', 'payload is null', MALFORMED, () => lab.signBytes(lab.headerJson(), 'null'), 'lab'),
  A(
    'plan A syntax',
    'claim holding a lone surrogate escape',
    MALFORMED,
    () => labWith('"name":"\\ud800"'),
    'lab',
  ),
  A(
    'plan A syntax',
    'custom claim nested 5,000 deep (valid otherwise)',
    OK,
    () => labWith(`"x":${'['.repeat(5_000)}${']'.repeat(5_000)}`),
    'lab',
  ),
  A('plan A syntax', '17 KB Authorization header → Node refuses it', HEADERS_TOO_LARGE, () =>
    'a'.repeat(17_000),
  ),

  // security-testing.md §6 B: algorithm and key handling
  ...['rs256', 'RS256 ', 'RS256\u0000', ['RS256'], 256, null].map((alg) =>
    A(
      'plan B keys',
      `alg ${JSON.stringify(alg)}`,
      ALGORITHM,
      () => lab.signBytes(lab.headerJson({ alg }), JSON.stringify(lab.claims())),
      'lab',
    ),
  ),
  A(
    'plan B keys',
    'no alg at all',
    ALGORITHM,
    () => lab.signBytes(lab.headerJson({ alg: undefined }), JSON.stringify(lab.claims())),
    'lab',
  ),

  // security-testing.md §6 C: claims
  ...(
    [
      ['exp', 0, MALFORMED],
      ['exp', -1, MALFORMED],
      ['exp', 1.5, MALFORMED],
      ['exp', '2000000000', MALFORMED],
      ['exp', null, MALFORMED],
      ['exp', true, MALFORMED],
      ['exp', [], MALFORMED],
      ['exp', {}, MALFORMED],
      ['nbf', '0', MALFORMED],
      ['nbf', null, MALFORMED],
      ['nbf', [], MALFORMED],
      ['iat', '0', MALFORMED],
      ['iat', false, MALFORMED],
      ['iat', {}, MALFORMED],
      ['exp', undefined, MALFORMED],
      ['iat', undefined, MALFORMED],
    ] as const
  ).map(([claim, value, expected]) =>
    A(
      'plan C claims',
      `${claim} = ${value === undefined ? 'missing' : JSON.stringify(value)}`,
      expected,
      () => withClaims({ [claim]: value }),
    ),
  ),
  A(
    'plan C claims',
    'exp = 1e309 (Infinity)',
    MALFORMED,
    () => labReplacing(/"exp":\d+/, '"exp":1e309'),
    'lab',
  ),
  A('plan C claims', 'nbf = 1e309', MALFORMED, () => labReplacing(/"nbf":\d+/, '"nbf":1e309'), 'lab'),
  A('plan C claims', 'iat = -1e309', MALFORMED, () => labReplacing(/"iat":\d+/, '"iat":-1e309'), 'lab'),
  A('plan C claims', 'iat in the future', NOT_YET, () =>
    withClaims({ iat: Math.floor(Date.now() / 1000) + 3_600 }),
  ),
  A('plan C claims', 'aud an array of 400 items', AUDIENCE, () =>
    withClaims({ aud: Array.from({ length: 400 }, () => API_URI) }),
  ),
  A('plan C claims', 'aud an array with a non-string', AUDIENCE, () => withClaims({ aud: [API_URI, 1] })),
  A('plan C claims', 'tid not a GUID', MALFORMED, () => withClaims({ tid: 'contoso.onmicrosoft.com' })),
  A('plan C claims', 'tid in upper case, iss in lower case', ISSUER, () =>
    withClaims({ tid: emu.tenantId.toUpperCase() }),
  ),
  A(
    'multi-tenant',
    'tid in upper case, iss in lower case',
    ISSUER,
    () => withClaims({ tid: emu.tenantId.toUpperCase() }),
    'multi',
  ),
  A('plan C claims', 'tid a canary URL', MALFORMED, () => withClaims({ tid: lure('tid') })),
  A(
    'plan C claims',
    'tid with a lone surrogate',
    MALFORMED,
    () => labWith(`"tid":"${lab.tenantId.slice(0, -1)}\\ud800"`),
    'lab',
  ),
  A('plan C claims', 'roles a string', MALFORMED, () => withClaims({ roles: 'Stocks.Read' })),
  A('plan C claims', 'roles holding a number', MALFORMED, () => withClaims({ roles: ['Stocks.Read', 1] })),
  A('plan C claims', 'scp an array', MALFORMED, () => withClaims({ scp: ['Stocks.Read'] })),
  A('plan C claims', 'no appid', MALFORMED, () => withClaims({ appid: undefined })),
  A('plan C claims', 'roles empty and no scp', NO_SCOPE_OR_ROLE, () => withClaims({ roles: [] })),
  A('plan C claims', 'iss on the canary', ISSUER, () =>
    withClaims({ iss: `${lure('iss')}/${emu.tenantId}/` }),
  ),
  A('plan C claims', 'iss on the canary with an unknown kid', ISSUER, () =>
    mint({
      claims: { iss: `${lure('iss-kid')}/${emu.tenantId}/v2.0`, ver: '2.0' },
      header: { kid: 'fresh' },
    }),
  ),

  // Multi-tenant API (organizations, one allowed tenant): no URL is ever built from an unverified tid or iss
  A('multi-tenant', 'a tenant that is not allowed', TENANT, () => mint({ tenant: OTHER_TENANT }), 'multi'),
  A(
    'multi-tenant',
    'not allowed, with an unknown kid',
    TENANT,
    () => mint({ tenant: OTHER_TENANT, header: { kid: 'k2' } }),
    'multi',
  ),
  A(
    'multi-tenant',
    'iss of an allowed tenant, tid of another',
    TENANT,
    () => mint({ claims: { tid: OTHER_TENANT } }),
    'multi',
  ),
  A(
    'multi-tenant',
    'tid allowed, iss on the canary',
    ISSUER,
    () => withClaims({ iss: `${lure('multi-iss')}/${emu.tenantId}/` }),
    'multi',
  ),
  A(
    'multi-tenant',
    'v2 token of the allowed tenant (control)',
    OK,
    () => mint({ version: 2, audience: API_CLIENT_ID }),
    'multi',
  ),
  A(
    'multi-tenant',
    'single-tenant API: a v1 token of another tenant, signed by the real key',
    ISSUER,
    () => lab.sign(lab.claims(1, { tid: OTHER_TENANT, iss: `https://sts.windows.net/${OTHER_TENANT}/` })),
    'lab',
  ),

  // Bearer header parsing (A26–A28)
  ...(
    [
      ['lower-case scheme (valid)', (t: string) => ({ authorization: `bearer ${t}` }), OK],
      ['upper-case scheme (valid)', (t: string) => ({ authorization: `BEARER ${t}` }), OK],
      ['two spaces after the scheme (valid)', (t: string) => ({ authorization: `Bearer  ${t}` }), OK],
      ['a tab after the scheme', (t: string) => ({ authorization: `Bearer\t${t}` }), HEADER_MALFORMED],
      [
        'a no-break space after the scheme',
        (t: string) => ({ authorization: `Bearer\u00a0${t}` }),
        HEADER_MALFORMED,
      ],
      ['two tokens', (t: string) => ({ authorization: `Bearer ${t} ${t}` }), HEADER_MALFORMED],
      [
        'two credentials joined by a comma',
        (t: string) => ({ authorization: `Bearer ${t}, Bearer ${t}` }),
        TWO_HEADERS,
      ],
      [
        'two Authorization headers',
        (t: string) => ({ authorization: [`Bearer ${t}`, `Bearer ${t}`] }),
        TWO_HEADERS,
      ],
      ['Bearer with no token', () => ({ authorization: 'Bearer' }), EMPTY_BEARER],
      ['Basic credentials', () => ({ authorization: 'Basic dXNlcjpwYXNz' }), MISSING],
      ['an empty header', () => ({ authorization: '' }), MISSING],
      ['no header', () => ({}), MISSING],
      [
        'a scheme of Unicode letters',
        (t: string) => ({ authorization: `B\u00e9arer ${t}` }),
        HEADER_MALFORMED,
      ],
    ] as const
  ).map(
    ([name, headers, expect]): Attack => ({
      group: 'header parsing',
      name,
      expect,
      request: () => ({ headers: headers(valid()) as Record<string, string | string[]> }),
    }),
  ),
  {
    group: 'header parsing',
    name: 'token in the query only',
    expect: MISSING,
    request: () => ({ headers: {}, path: `/stocks?access_token=${valid()}` }),
  },
  {
    group: 'header parsing',
    name: 'token in the query and the header',
    expect: TWO_METHODS,
    request: () => ({
      headers: { authorization: `Bearer ${valid()}` },
      path: `/stocks?access_token=${valid()}`,
    }),
  },
  {
    group: 'header parsing',
    name: 'token in a form body only',
    expect: MISSING,
    request: () => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: `access_token=${valid()}`,
    }),
  },

  // Controls: the same API accepts what it must
  A('controls', 'a valid v1 token', OK, () => valid()),
  A('controls', 'a valid v2 token', OK, () => mint({ version: 2, audience: API_CLIENT_ID })),
  A('controls', 'a valid token signed by the lab key', OK, () => lab.sign(lab.claims(2)), 'lab'),
  A(
    'controls',
    'a valid token with a surrogate pair and non-ASCII text',
    OK,
    () => labWith('"name":"Zo\\u00eb \\ud83d\\ude00 東京"'),
    'lab',
  ),
]

const GROUPS = [...new Set(attacks.map((a) => a.group))]

/** Every piece of a token long enough to be recognised if it came back. */
function secretsOf(token: string): string[] {
  return [token, ...token.split('.')].filter((piece) => piece.length >= 16)
}

describe.each(FRAMEWORKS)('attack corpus against %s', (framework) => {
  let apis: Record<Target, RunningApi>
  const events: AuthEvent[] = []
  beforeAll(async () => {
    const multi = createValidator({
      tenant: 'organizations',
      allowedTenants: [emu.tenantId],
      audience: [API_URI, API_CLIENT_ID],
      authority: emu.authority,
      onEvent: (e) => events.push(e),
    })
    const [emuApi, labApi, multiApi] = await Promise.all([
      startScenarioApi(framework, emu, [API_URI, API_CLIENT_ID]),
      startScenarioApi(framework, lab, [API_URI, API_CLIENT_ID]),
      startApi(framework, multi, events),
    ])
    apis = {
      emu: emuApi,
      lab: labApi,
      multi: { ...multiApi, close: async () => (await multiApi.close(), multi.close()) },
    }
  })
  afterAll(async () => {
    await Promise.all(Object.values(apis).map((api) => api.close()))
  })

  for (const group of GROUPS) {
    it.each(attacks.filter((a) => a.group === group))(`${group}: $name`, async (attack) => {
      const token = attack.token?.()
      const request = attack.request?.() ?? { headers: { authorization: `Bearer ${token}` } }
      const api = apis[attack.target ?? 'emu']
      // A fresh connection per case: a server closes the socket after a 400 or 431, and a reused one would
      // fail the case for the client's reason.
      const headers = { ...request.headers, connection: 'close' }
      const reply = await send(api.base, request.path ?? '/stocks', { ...request, headers })
      const { expect: want } = attack
      expect(reply.status).toBe(want.status)
      expect(reply.headers['www-authenticate'] ?? null).toBe(want.challenge)
      if (want.body !== null) expect(reply.json()).toEqual(want.body)
      if (want.status === 503) expect(Number(reply.headers['retry-after'])).toBeGreaterThanOrEqual(1)
      // No part of any token sent comes back, in the body or any header.
      const sent = [
        token ?? '',
        ...Object.values(request.headers).flat(),
        request.path ?? '',
        request.body ?? '',
      ]
      const echoed = [reply.body, ...Object.values(reply.headers).flat().map(String)].join('\n')
      for (const piece of sent.flatMap((v) => secretsOf(String(v).replace(/^bearer\s+/i, '')))) {
        expect(echoed.includes(piece), 'a token piece was echoed').toBe(false)
      }
    })
  }

  it('a storm of random kids makes at most one key fetch', async () => {
    const before = emu.requests.filter((r) => r.path.includes('/keys')).length
    const replies = await Promise.all(
      Array.from({ length: 40 }, (_, i) =>
        send(apis.emu.base, '/stocks', {
          headers: { authorization: `Bearer ${mint({ header: { kid: `random-${i}` } })}` },
        }),
      ),
    )
    expect(replies.every((r) => r.status === 401)).toBe(true)
    expect(emu.requests.filter((r) => r.path.includes('/keys')).length - before).toBeLessThanOrEqual(1)
  })

  it('never fetched a URL taken from a token (jku, x5u, iss, tid, kid)', () => {
    expect(canary.connections()).toBe(0)
    expect(canary.requests).toEqual([])
    // No metadata or key set was asked for a tenant the tokens named but nobody configured.
    for (const tid of [OTHER_TENANT, MSA_TENANT]) {
      expect(emu.requests.filter((r) => r.path.includes(tid))).toEqual([])
      expect(lab.requests.filter((r) => r.includes(tid))).toEqual([])
    }
  })

  it('never logs a token in an event', () => {
    const all = [...events, ...apis.emu.events, ...apis.lab.events]
    expect(all.some((e) => e.type === 'token.rejected')).toBe(true)
    expect(JSON.stringify(all)).not.toMatch(/eyJ[A-Za-z0-9_-]{20,}\.eyJ/)
  })
})

describe('the corpus itself', () => {
  it('holds at least 80 named cases, each name unique', () => {
    const names = attacks.map((a) => `${a.group}: ${a.name}`)
    expect(new Set(names).size).toBe(names.length)
    expect(attacks.length).toBeGreaterThanOrEqual(80)
  })
})
