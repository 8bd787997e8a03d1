import { AuthError, createValidator, type Validator, type ValidatorOptions } from '@entraguard/core'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import {
  API_APP_ID_URI,
  API_CLIENT_ID,
  type LocalIssuer,
  OTHER_TENANT,
  startLocalIssuer,
} from './local-issuer.js'

// Issue 8, "Behaviour to fix": one key pool for v1 and v2, strict JSON bytes, Graph tokens named first.

let issuer: LocalIssuer
const open: Validator[] = []
beforeAll(async () => {
  issuer = await startLocalIssuer()
})
afterAll(async () => {
  await issuer.close()
})
const rotated: string[] = []
afterEach(() => {
  for (const v of open.splice(0)) v.close()
  for (const kid of rotated.splice(0)) issuer.unpublish(kid)
  issuer.fault = undefined
})

/** A new published key (unpublished after the test), optionally bound to an issuer. */
async function rotate(keyIssuer?: string): Promise<string> {
  const kid = await issuer.rotate(keyIssuer)
  rotated.push(kid)
  return kid
}

function make(extra: Partial<ValidatorOptions> = {}): Validator {
  const v = createValidator({
    tenant: issuer.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
    ...extra,
  } as ValidatorOptions)
  open.push(v)
  return v
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: unknown) => (e instanceof AuthError ? e.code : `not an AuthError: ${String(e)}`),
  )
}

async function rejection(p: Promise<unknown>): Promise<AuthError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  expect(err).toBeInstanceOf(AuthError)
  return err as AuthError
}

/** Requests the validator made since `from`, by kind. */
function requestsSince(from: number): { documents: string[]; keySets: string[] } {
  const seen = issuer.requests.slice(from)
  return {
    documents: seen.filter((r) => r.includes('openid-configuration')),
    keySets: seen.filter((r) => r.includes('/keys')),
  }
}

describe('one key pool for v1 and v2 tokens', () => {
  it('a validator that has served only v2 tokens validates a v1 token through an issuer outage', async () => {
    const v = make()
    await v.validate(await issuer.sign(issuer.claims(2)))
    issuer.fault = { status: 500, body: 'down' }
    const p = await v.validate(await issuer.sign(issuer.claims(1)))
    expect(p.tokenVersion).toBe(1)
  })

  it('warm() reads both documents and one key set: fewer fetches than one pool per version', async () => {
    const from = issuer.requests.length
    const v = make()
    await v.warm()
    const { documents, keySets } = requestsSince(from)
    expect(documents.map((d) => d.includes('/v2.0/')).sort()).toEqual([false, true])
    expect(keySets).toEqual([`/${issuer.tenantId}/discovery/v2.0/keys`])
    issuer.fault = { status: 503, body: '' }
    await expect(v.validate(await issuer.sign(issuer.claims(1)))).resolves.toMatchObject({ tokenVersion: 1 })
    await expect(v.validate(await issuer.sign(issuer.claims(2)))).resolves.toMatchObject({ tokenVersion: 2 })
    expect(issuer.requests.length - from).toBe(3)
    expect(v.stats.refreshes).toBe(1)
  })

  it('an unknown kid refreshes the key document and key set once, not the v1 document', async () => {
    const v = make({ jwks: { cooldown: 0 } })
    await v.warm()
    const from = issuer.requests.length
    const kid = await rotate()
    await expect(v.validate(await issuer.sign(issuer.claims(1), { kid }))).resolves.toBeTruthy()
    const { documents, keySets } = requestsSince(from)
    expect(documents).toHaveLength(1)
    expect(documents[0]).toContain('/v2.0/')
    expect(keySets).toHaveLength(1)
  })

  it('maps a v1 token onto the v2 key issuer of its own tenant (signing-key issuer rule)', async () => {
    const v = make({ tenant: 'common', allowedTenants: 'any', jwks: { cooldown: 0 } })
    const foreign = await rotate(`https://login.microsoftonline.com/${OTHER_TENANT}/v2.0`)
    const e = await rejection(v.validate(await issuer.sign(issuer.claims(1), { kid: foreign })))
    expect(e.code).toBe('invalid_issuer')
    expect(e.detail).toContain(`signing key ${foreign} belongs to issuer`)
    const own = await rotate(`https://login.microsoftonline.com/${issuer.tenantId}/v2.0`)
    await expect(v.validate(await issuer.sign(issuer.claims(1), { kid: own }))).resolves.toMatchObject({
      tokenVersion: 1,
    })
  })

  it('a single-tenant API refuses a v1 token signed by a key bound to another issuer', async () => {
    const v = make()
    const consumer = await rotate(
      'https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0',
    )
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(1), { kid: consumer })))).toBe(
      'invalid_issuer',
    )
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(2), { kid: consumer })))).toBe(
      'invalid_issuer',
    )
  })

  it('a v1-only validator reads the v1 document and its key set only', async () => {
    const from = issuer.requests.length
    const v = make({ tokenVersions: [1] })
    await expect(v.validate(await issuer.sign(issuer.claims(1)))).resolves.toMatchObject({ tokenVersion: 1 })
    const { documents, keySets } = requestsSince(from)
    expect(documents).toEqual([`/${issuer.tenantId}/.well-known/openid-configuration`])
    expect(keySets).toEqual([`/${issuer.tenantId}/discovery/keys`])
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(2))))).toBe('invalid_issuer')
  })

  it('a cold start whose v1 document fails answers 503 for every version, then recovers', async () => {
    const v = make({ jwks: { cooldown: 100 } })
    issuer.fault = { status: 500, body: '', match: /^\/[^/]+\/\.well-known/ }
    const token = await issuer.sign(issuer.claims(2))
    expect(await codeOf(v.validate(token))).toBe('metadata_unavailable')
    issuer.fault = undefined
    await new Promise((r) => setTimeout(r, 150)) // the back-off after a cold failure is the cooldown here
    expect(await codeOf(v.validate(token))).toBe('ok')
    expect(await codeOf(v.validate(await issuer.sign(issuer.claims(1))))).toBe('ok')
  })
})

describe('tid and iss agree exactly', () => {
  it.each([
    ['single-tenant', {}],
    ['multi-tenant', { tenant: 'organizations', allowedTenants: 'any' }],
  ] as const)('%s: a tid in other case than the tenant in iss → invalid_issuer', async (_name, options) => {
    const v = make(options as Partial<ValidatorOptions>)
    const upper = issuer.tenantId.toUpperCase()
    for (const version of [1, 2] as const) {
      const e = await rejection(v.validate(await issuer.sign(issuer.claims(version, { tid: upper }))))
      expect(e.code).toBe('invalid_issuer')
    }
    await expect(v.validate(await issuer.sign(issuer.claims(2)))).resolves.toMatchObject({
      tenantId: issuer.tenantId,
    })
  })
})

describe('claims bytes must be strict JSON', () => {
  const payloadText = (extra: Record<string, unknown> = {}) => JSON.stringify(issuer.claims(2, extra))
  /** The valid payload with `raw` spliced in as its first member. */
  const withMember = (raw: string) => payloadText().replace('{', `{${raw},`)
  const bytesWith = (marker: string, bytes: number[]) => {
    const text = payloadText({ name: marker })
    const at = text.indexOf(marker)
    return Buffer.concat([
      Buffer.from(text.slice(0, at)),
      Buffer.from(bytes),
      Buffer.from(text.slice(at + marker.length)),
    ])
  }

  it.each([
    ['an invalid byte (0xFF)', [0xff]],
    ['a lone continuation byte (0x80)', [0x80]],
    ['an overlong "/" (C0 AF)', [0xc0, 0xaf]],
    ['an overlong NUL (E0 80 80)', [0xe0, 0x80, 0x80]],
    ['an encoded surrogate (ED A0 80)', [0xed, 0xa0, 0x80]],
    ['a truncated sequence (E2 82)', [0xe2, 0x82]],
    ['a code point above U+10FFFF (F4 90 80 80)', [0xf4, 0x90, 0x80, 0x80]],
  ])('payload with %s → malformed_token, never U+FFFD', async (_name, bytes) => {
    const token = await issuer.signBytes(issuer.headerJson(), bytesWith('MARK', bytes))
    const e = await rejection(make().validate(token))
    expect(e.code).toBe('malformed_token')
    expect(e.detail).toBe("The token's payload is not valid UTF-8")
  })

  it('header with invalid UTF-8 → malformed_token', async () => {
    const header = Buffer.concat([
      Buffer.from(issuer.headerJson({ x: 'M' }).slice(0, -3)),
      Buffer.from([0xc3, 0x28]),
      Buffer.from('"}'),
    ])
    const e = await rejection(make().validate(await issuer.signBytes(header, payloadText())))
    expect(e.detail).toBe("The token's header is not valid UTF-8")
  })

  it.each(['header', 'payload'] as const)('a UTF-8 BOM before the %s → malformed_token', async (where) => {
    const bom = Buffer.from([0xef, 0xbb, 0xbf])
    const header = Buffer.from(issuer.headerJson())
    const payload = Buffer.from(payloadText())
    const token = await issuer.signBytes(
      where === 'header' ? Buffer.concat([bom, header]) : header,
      where === 'payload' ? Buffer.concat([bom, payload]) : payload,
    )
    const e = await rejection(make().validate(token))
    expect(e.code).toBe('malformed_token')
    expect(e.detail).toBe(`The token's ${where} starts with a UTF-8 BOM`)
  })

  it.each([
    ['a lone high surrogate', '"name":"\\ud800"'],
    ['a lone low surrogate', '"name":"x\\udc00"'],
    ['a high surrogate before a non-surrogate', '"name":"\\ud83d\\u0041"'],
    ['two high surrogates', '"name":"\\ud83d\\ud83d"'],
    ['reversed pair', '"name":"\\ude00\\ud83d"'],
    ['a lone surrogate in a member name', '"\\ud800":1'],
    ['a lone surrogate deep in a custom claim', '"x":{"y":[{"z":"\\udfff"}]}'],
  ])('%s in an escape → malformed_token', async (_name, member) => {
    const e = await rejection(
      make().validate(await issuer.signBytes(issuer.headerJson(), withMember(member))),
    )
    expect(e.code).toBe('malformed_token')
    expect(e.detail).toBe("The token's payload holds a lone surrogate escape")
  })

  it.each([
    ['tid twice', (t: string) => `"tid":"${OTHER_TENANT}","tid":"${t}"`],
    ['aud twice', () => `"aud":"api://other","aud":"${API_CLIENT_ID}"`],
    ['roles twice', () => '"roles":["Stocks.Admin"]'],
    ['exp escaped as \\u0065xp', () => '"\\u0065xp":1'],
    ['iss with every letter escaped', () => '"\\u0069\\u0073\\u0073":"https://evil.example/"'],
    ['a name in a nested object', () => '"x":{"a":1,"b":{"c":1,"c":2}}'],
    ['a name in an object inside an array', () => '"x":[1,{"a":1,"a":1}]'],
    ['an empty name', () => '"":1,"":2'],
  ])('duplicate member names: %s → malformed_token', async (_name, member) => {
    const e = await rejection(
      make().validate(await issuer.signBytes(issuer.headerJson(), withMember(member(issuer.tenantId)))),
    )
    expect(e.code).toBe('malformed_token')
    expect(e.detail).toMatch(/^The token's payload has the member name ".*" twice$/)
  })

  it.each([
    ['alg', '"alg":"none",'],
    ['kid', '"kid":"other",'],
    ['kid escaped', '"\\u006bid":"other",'],
  ])('duplicate %s in the header → malformed_token', async (_name, member) => {
    const header = issuer.headerJson().replace('{', `{${member}`)
    const e = await rejection(make().validate(await issuer.signBytes(header, payloadText())))
    expect(e.code).toBe('malformed_token')
    expect(e.detail).toMatch(/^The token's header has the member name ".*" twice$/)
  })

  it.each([
    ['the same name in sibling objects', '"x":{"a":1},"y":{"a":2}'],
    ['a name that is also a value', '"x":"tid","y":["tid","tid"]'],
    ['names that differ only by escaping of other characters', '"a\\"b":1,"a\\\\b":2,"a/b":3,"a\\/c":4'],
    ['braces and commas inside strings', '"x":"{\\"tid\\":1,\\"tid\\":2}","y":"[,]"'],
    ['a valid surrogate pair', '"x":"\\ud83d\\ude00 \\u00e9"'],
    ['an escaped backslash before u', '"x":"\\\\ud800"'],
    ['raw non-ASCII text', '"x":"Zoë 東京 😀"'],
    ['deep nesting', `"x":${'['.repeat(200)}${']'.repeat(200)}`],
  ])('still accepted: %s', async (_name, member) => {
    const token = await issuer.signBytes(issuer.headerJson(), withMember(member))
    await expect(make().validate(token)).resolves.toMatchObject({ tenantId: issuer.tenantId })
  })
})

describe('Microsoft Graph tokens are named whichever check fails first', () => {
  const graphDescription = 'The token is for Microsoft Graph, not for this API'

  async function graphRejection(token: string, v = make()): Promise<AuthError> {
    const e = await rejection(v.validate(token))
    expect(e.detail).toContain('This is a token for Microsoft Graph, not for this API')
    expect(e.detail).toContain(`request a token for ${API_APP_ID_URI}/.default`)
    return e
  }

  it('a nonce in the header is never accepted, even with this API as aud and a good signature', async () => {
    const v = make()
    const token = await issuer.sign(issuer.claims(2), { header: { nonce: 'graph-nonce' } })
    for (let i = 0; i < 3; i++) {
      const e = await graphRejection(token, v)
      expect(e.code).toBe('invalid_audience')
      expect(e.description).toBe(graphDescription)
    }
  })

  it.each([
    ['an algorithm other than RS256', { alg: 'PS256' }, {}],
    ['no kid', { kid: undefined }, {}],
    ['an unusable kid', { kid: '../../etc/passwd' }, {}],
    ['a crit header', { crit: ['exp'] }, {}],
    ['a v1 issuer with ver 2.0', {}, { ver: '2.0' }],
    ['a tid that is not a GUID', {}, { tid: 'contoso' }],
    ['another tenant', {}, { tid: OTHER_TENANT, iss: `https://sts.windows.net/${OTHER_TENANT}/` }],
    ['an expired token', {}, { exp: 1000, iat: 900, nbf: 900 }],
    ['no roles or scopes', {}, { roles: undefined }],
  ])('Graph aud with %s → invalid_audience naming Graph', async (_name, header, claims) => {
    const token = await issuer.signBytes(
      issuer.headerJson({ nonce: 'n', ...header }),
      JSON.stringify(issuer.claims(1, { aud: 'https://graph.microsoft.com', ...claims })),
    )
    const e = await graphRejection(token)
    expect(e.code).toBe('invalid_audience')
    expect(e.description).toBe(graphDescription)
  })

  it('a Graph token signed by a key this API does not know → named, no key fetch', async () => {
    const v = make()
    await v.warm()
    const before = issuer.jwksRequests()
    const token = await issuer.sign(issuer.claims(2, { aud: '00000003-0000-0000-c000-000000000000' }), {
      kid: 'graph-key',
    })
    expect((await graphRejection(token, v)).code).toBe('invalid_audience')
    expect(issuer.jwksRequests()).toBe(before)
  })

  it('a Graph token refused while decoding keeps its code and is named in detail', async () => {
    const dup = await issuer.signBytes(
      issuer.headerJson({ nonce: 'n' }),
      JSON.stringify(issuer.claims(2, { aud: 'https://graph.microsoft.com' })).replace('{', '{"tid":"x",'),
    )
    const e = await graphRejection(dup)
    expect(e.code).toBe('malformed_token')
    expect(e.description).toBe('The token is malformed')
    expect(e.detail).toContain('has the member name "tid" twice')
    // Just over the 16 KiB token limit (far larger headers are a malformed_request before any decoding).
    const graphClaims = (pad: string) => issuer.claims(2, { aud: 'https://graph.microsoft.com', pad })
    const short = await issuer.sign(graphClaims(''), { header: { nonce: 'n' } })
    const long = await issuer.sign(
      graphClaims('x'.repeat(Math.ceil(((16 * 1024 + 20 - short.length) * 3) / 4))),
      {
        header: { nonce: 'n' },
      },
    )
    expect(long.length).toBeGreaterThan(16 * 1024)
    expect(long.length).toBeLessThan(16 * 1024 + 64)
    const l = await graphRejection(long)
    expect(l.code).toBe('malformed_token')
    expect(l.detail).toContain('the limit is 16384')
  })

  it('a malformed token that is not for Graph keeps its plain detail', async () => {
    const dup = await issuer.signBytes(
      issuer.headerJson(),
      JSON.stringify(issuer.claims(2)).replace('{', '{"tid":"x",'),
    )
    const e = await rejection(make().validate(dup))
    expect(e.detail).toBe('The token\'s payload has the member name "tid" twice')
  })
})
