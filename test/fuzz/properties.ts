import { request } from 'node:http'
import { AuthError, createValidator, type Validator } from '@entraguard/core'
import fc from 'fast-check'
import { type Framework, type RunningApi, startScenarioApi } from '../support/apps.js'
import { API_CLIENT_ID, API_URI } from '../support/scenario.js'
import { startTokenLab, type TokenLab } from './lab.js'
import { carriesToken, expectedCodes, type ModelApi } from './model.js'

// The fuzzing properties of issue 8, shared by the bounded run in `pnpm test` (fuzz.test.ts) and the long
// run of `pnpm fuzz` (run.ts). Every property is deterministic for a seed: no Math.random, no clock reads in
// predicates (the validator runs on a fixed clock), so fast-check's seed and path replay a failure exactly.

/** A validation must settle within this, or the property fails as a hang. */
const HANG_MS = 2_000
const AUDIENCES = [API_URI, API_CLIENT_ID]

/** The lab, a validator on a fixed clock trusting it, and two valid tokens (v1 and v2) to mutate. */
export interface FuzzContext {
  lab: TokenLab
  validator: Validator
  api: ModelApi
  tokens: readonly [string, string]
  close(): Promise<void>
}

export async function startFuzzContext(): Promise<FuzzContext> {
  const lab = await startTokenLab()
  const nowSeconds = Math.floor(Date.now() / 1000)
  const validator = createValidator({
    tenant: lab.tenantId,
    audience: AUDIENCES,
    authority: lab.authority,
    now: () => nowSeconds * 1000,
    // Every run starts from the same state: no cached validations that a replay would not have.
    cache: false,
  })
  await validator.warm()
  const claims = (version: 1 | 2) => ({
    ...lab.claims(version),
    iat: nowSeconds - 60,
    nbf: nowSeconds - 60,
    exp: nowSeconds + 3600,
  })
  return {
    lab,
    validator,
    api: { tenantId: lab.tenantId, audiences: AUDIENCES, kid: lab.kid, nowSeconds, tolerance: 300 },
    tokens: [lab.sign(claims(1)), lab.sign(claims(2))],
    async close() {
      validator.close()
      await lab.close()
    },
  }
}

/** How `validate` ended: accepted, or refused with an AuthError code and status. */
type Outcome = { accepted: true } | { accepted: false; code: string; status: number; detail: string }

async function outcomeOf(validator: Validator, input: string): Promise<Outcome> {
  let timer: NodeJS.Timeout | undefined
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`validate did not settle within ${HANG_MS} ms`)), HANG_MS)
  })
  try {
    await Promise.race([validator.validate(input), hang])
    return { accepted: true }
  } catch (err) {
    // Anything but an AuthError (a TypeError, a RangeError) is a crash: a 500 in every adapter.
    if (!(err instanceof AuthError)) throw err
    return { accepted: false, code: err.code, status: err.status, detail: err.detail }
  } finally {
    clearTimeout(timer)
  }
}

// ---------------------------------------------------------------------------------------------------------
// Mutations: plain data, so that a counterexample prints readably and shrinks.

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'

/** One edit of a token. */
export type Mutation =
  | { op: 'char'; at: number; to: string }
  | { op: 'bit'; segment: number; at: number; bit: number }
  | { op: 'segments'; order: number[]; joiner: string }
  | { op: 'reencode'; segment: number; how: 'base64' | 'padded' | 'space' | 'newline' | 'upper' }
  | { op: 'insert'; at: number; text: string }
  | { op: 'delete'; at: number; count: number }
  | { op: 'repeat'; times: number; joiner: string }
  | { op: 'empty' }
  | { op: 'header' | 'claim'; key: string; value: unknown }
  | { op: 'duplicate'; segment: number; key: string; value: unknown }

const interesting = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(
    'RS256',
    'none',
    'HS256',
    'PS256',
    'rs256',
    '',
    null,
    1e308,
    -1,
    0,
    2 ** 53 + 1,
    'https://graph.microsoft.com',
    API_URI,
    API_CLIENT_ID,
    '\ud800',
    '__proto__',
    ['RS256'],
    { roles: ['Stocks.Write'] },
  ),
)
const headerKeys = fc.constantFrom(
  'alg',
  'kid',
  'typ',
  'x5t',
  'jku',
  'x5u',
  'jwk',
  'crit',
  'b64',
  'nonce',
  'cty',
  'zip',
)
const claimKeys = fc.constantFrom(
  'aud',
  'iss',
  'tid',
  'ver',
  'exp',
  'nbf',
  'iat',
  'roles',
  'scp',
  'azp',
  'appid',
  'idtyp',
  'oid',
  '__proto__',
  'constructor',
  'x',
)
const anyText = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 8 }),
  fc.string({ unit: 'grapheme', maxLength: 4 }),
  fc.integer({ min: 0xd800, max: 0xdfff }).map((u) => String.fromCharCode(u)),
  fc.constantFrom('.', '=', '==', ' ', '\t', '\n', '\u00a0', '\ufeff', '+', '/', ',', '%2E', 'Bearer '),
)

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    op: fc.constant('char' as const),
    at: fc.nat(4000),
    to: fc.oneof(fc.constantFrom(...B64URL), anyText),
  }),
  fc.record({ op: fc.constant('bit' as const), segment: fc.nat(2), at: fc.nat(600), bit: fc.nat(7) }),
  fc.record({
    op: fc.constant('segments' as const),
    order: fc.array(fc.nat(2), { minLength: 0, maxLength: 5 }),
    joiner: fc.constantFrom('.', '', '..', ' '),
  }),
  fc.record({
    op: fc.constant('reencode' as const),
    segment: fc.nat(2),
    how: fc.constantFrom('base64', 'padded', 'space', 'newline', 'upper'),
  }),
  fc.record({ op: fc.constant('insert' as const), at: fc.nat(4000), text: anyText }),
  fc.record({ op: fc.constant('delete' as const), at: fc.nat(4000), count: fc.integer({ min: 1, max: 50 }) }),
  fc.record({
    op: fc.constant('repeat' as const),
    times: fc.integer({ min: 2, max: 12 }),
    joiner: fc.constantFrom('', '.', ' '),
  }),
  fc.constant({ op: 'empty' as const }),
  fc.record({
    op: fc.constantFrom('header' as const, 'claim' as const),
    key: fc.oneof(headerKeys, claimKeys),
    value: interesting,
  }),
  fc.record({
    op: fc.constant('duplicate' as const),
    segment: fc.nat(1),
    key: fc.oneof(headerKeys, claimKeys),
    value: interesting,
  }),
)

const segmentsOf = (token: string) => {
  const [h = '', p = '', s = ''] = token.split('.')
  return [h, p, s]
}
const decodeJson = (segment: string): Record<string, unknown> => {
  try {
    const value: unknown = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : {}
  } catch {
    return {}
  }
}
const encodeJson = (value: unknown) => Buffer.from(JSON.stringify(value) ?? 'null').toString('base64url')

/** Applies one mutation; the result is any string, not necessarily a token. */
export function mutate(token: string, m: Mutation): string {
  const at = (n: number) => (token.length === 0 ? 0 : n % (token.length + 1))
  const segments = segmentsOf(token)
  switch (m.op) {
    case 'char':
      return `${token.slice(0, at(m.at))}${m.to}${token.slice(at(m.at) + 1)}`
    case 'bit': {
      const bytes = Buffer.from(segments[m.segment] as string, 'base64url')
      if (bytes.length > 0) bytes[m.at % bytes.length] = (bytes[m.at % bytes.length] as number) ^ (1 << m.bit)
      segments[m.segment] = bytes.toString('base64url')
      return segments.join('.')
    }
    case 'segments':
      return m.order.map((i) => segments[i]).join(m.joiner)
    case 'reencode': {
      const raw = Buffer.from(segments[m.segment] as string, 'base64url')
      const std = raw.toString('base64')
      const text = segments[m.segment] as string
      segments[m.segment] =
        m.how === 'base64'
          ? std.replace(/=+$/, '')
          : m.how === 'padded'
            ? `${text}${'='.repeat((4 - (text.length % 4)) % 4 || 2)}`
            : m.how === 'space'
              ? `${text.slice(0, 10)} ${text.slice(10)}`
              : m.how === 'newline'
                ? `${text.slice(0, 10)}\n${text.slice(10)}`
                : text.toUpperCase()
      return segments.join('.')
    }
    case 'insert':
      return `${token.slice(0, at(m.at))}${m.text}${token.slice(at(m.at))}`
    case 'delete':
      return `${token.slice(0, at(m.at))}${token.slice(at(m.at) + m.count)}`
    case 'repeat':
      return Array.from({ length: m.times }, () => token).join(m.joiner)
    case 'empty':
      return ''
    case 'header':
    case 'claim': {
      const i = m.op === 'header' ? 0 : 1
      const json = decodeJson(segments[i] as string)
      segments[i] = encodeJson({ ...json, [m.key]: m.value })
      return segments.join('.')
    }
    case 'duplicate': {
      const text = Buffer.from(segments[m.segment] as string, 'base64url').toString('utf8')
      const member = `${JSON.stringify(m.key)}:${JSON.stringify(m.value) ?? 'null'},`
      segments[m.segment] = Buffer.from(text.startsWith('{') ? `{${member}${text.slice(1)}` : text).toString(
        'base64url',
      )
      return segments.join('.')
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Properties

/** Checks a refusal: an AuthError of a 4xx status whose detail never holds the token's signature. */
function expectRefusal(outcome: Outcome, token: string): void {
  if (outcome.accepted) throw new Error('accepted')
  if (outcome.status >= 500) throw new Error(`answered ${outcome.status} (${outcome.code})`)
  const signature = segmentsOf(token)[2] as string
  if (outcome.detail.includes(signature)) throw new Error('the detail echoes the token')
}

/** Random edits of a valid token are refused unless they leave the token unchanged. */
export function tokenMutations(ctx: FuzzContext) {
  return fc.asyncProperty(
    fc.nat(1),
    fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
    async (which, mutations) => {
      const token = ctx.tokens[which] as string
      const input = mutations.reduce(mutate, token)
      const outcome = await outcomeOf(ctx.validator, input)
      if (carriesToken(input, token)) {
        if (!outcome.accepted) throw new Error(`the unchanged token was refused: ${outcome.code}`)
        return
      }
      expectRefusal(outcome, token)
    },
  )
}

/** An Authorization value around a token: scheme, separator, prefix and suffix, each possibly hostile. */
export const headerArb = fc.record({
  lead: fc.constantFrom('', ' ', '  ', '\t', '\u00a0'),
  scheme: fc.oneof(
    fc.constantFrom(
      'Bearer',
      'bearer',
      'BEARER',
      'bEaReR',
      '',
      'Basic',
      'Bearer,',
      'DPoP',
      'Bearer:',
      'B\u00e9arer',
    ),
    fc.string({ unit: 'grapheme-ascii', maxLength: 8 }),
  ),
  separator: fc.constantFrom(' ', '  ', '   ', '', '\t', '\u00a0', '\n', ' \t', '='),
  mutations: fc.array(mutationArb, { maxLength: 2 }),
  suffix: fc.oneof(fc.constantFrom('', ' ', '  ', '\t', ',', ', Bearer x', ' x', '='), anyText),
  huge: fc.constantFrom(0, 0, 0, 0, 0, 0, 1, 2),
})
export type HeaderShape = typeof headerArb extends fc.Arbitrary<infer T> ? T : never

/** The header text, and the token it wraps. */
export function headerOf(shape: HeaderShape, token: string): string {
  const body = shape.mutations.reduce(mutate, token)
  const padding = shape.huge === 0 ? '' : 'A'.repeat(shape.huge === 1 ? 16_500 : 20_000)
  return `${shape.lead}${shape.scheme}${shape.separator}${body}${padding}${shape.suffix}`
}

/** Any Authorization value is accepted only when it carries the valid token unchanged; otherwise a 4xx. */
export function headerMutations(ctx: FuzzContext) {
  return fc.asyncProperty(fc.nat(1), headerArb, async (which, shape) => {
    const token = ctx.tokens[which] as string
    const header = headerOf(shape, token)
    const outcome = await outcomeOf(ctx.validator, header)
    if (carriesToken(header, token)) {
      if (!outcome.accepted) throw new Error(`the unchanged token was refused: ${outcome.code}`)
      return
    }
    expectRefusal(outcome, token)
  })
}

/** How many runs of a property ended in acceptance and in refusal (a differential that never accepts is vacuous). */
export interface Tally {
  accepted: number
  refused: number
}

/** Generated headers and claim sets, signed with the trusted key: the validator agrees with the model. */
export function differential(ctx: FuzzContext, tally: Tally = { accepted: 0, refused: 0 }) {
  const now = ctx.api.nowSeconds
  const tid = ctx.api.tenantId
  const other = '11111111-2222-4333-8444-555555555555'
  // Mostly good values, so that acceptance is explored as well as every way of being refused.
  const pick = <T>(good: T, ...bad: T[]): fc.Arbitrary<T> =>
    fc.oneof({ weight: 8, arbitrary: fc.constant(good) }, fc.constantFrom(...bad))
  const times = [now - 86_400, now - 400, now - 200, now, now + 200, now + 400, now + 86_400]
  const oddTimes = [undefined, null, '1700000000', 1.5, -1, 0, true, [], {}, 1e300]
  const claimsArb = fc.record({
    version: fc.constantFrom(1, 2),
    aud: pick<unknown>(
      'auto',
      API_URI,
      API_CLIENT_ID,
      `${API_URI}/`,
      'API://STOCK-API',
      'https://graph.microsoft.com',
      [API_URI],
      undefined,
      7,
    ),
    iss: pick<string>('auto', 'other-version', 'other-tenant', 'garbage', 'missing', 'upper-tenant'),
    tid: pick<unknown>(tid, tid.toUpperCase(), other, 'contoso', undefined, 5),
    ver: pick<unknown>('auto', '1.0', '2.0', '3.0', undefined, 2),
    exp: pick<unknown>(now + 3_600, ...times, ...oddTimes),
    iat: pick<unknown>(now - 60, ...times, ...oddTimes),
    nbf: pick<unknown>(now - 60, ...times, ...oddTimes),
    roles: pick<unknown>(['Stocks.Read'], [], undefined, 'Stocks.Read', ['Stocks.Read', 1], null),
    scp: pick<unknown>(undefined, 'Stocks.Read', '', ' ', ['Stocks.Read'], 3),
    client: pick<unknown>('2f1a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70', undefined, 42, ''),
    idtyp: pick<unknown>('app', undefined, 'user', 1),
    groups: pick<unknown>(undefined, [], ['g'], 'g', [1]),
  })
  const headerArb2 = fc.record({
    alg: pick<unknown>('RS256', 'none', 'HS256', 'RS384', 'rs256', undefined, ['RS256']),
    kid: pick<unknown>(ctx.api.kid, undefined, 'unknown-kid', '../x', '', 'k'.repeat(200), 3),
    extra: pick<Record<string, unknown>>(
      {},
      { nonce: 'n' },
      { crit: ['exp'] },
      { b64: false },
      { jku: 'http://127.0.0.1:9/jwks' },
      { x5t: 'x' },
    ),
  })
  const issuerOf = (form: string, version: number) => {
    const v1 = (t: string) => `https://sts.windows.net/${t}/`
    const v2 = (t: string) => `https://login.microsoftonline.com/${t}/v2.0`
    if (form === 'auto') return version === 2 ? v2(tid) : v1(tid)
    if (form === 'other-version') return version === 2 ? v1(tid) : v2(tid)
    if (form === 'other-tenant') return version === 2 ? v2(other) : v1(other)
    if (form === 'upper-tenant') return version === 2 ? v2(tid.toUpperCase()) : v1(tid.toUpperCase())
    return form === 'garbage' ? 'https://evil.example/' : undefined
  }
  return fc.asyncProperty(claimsArb, headerArb2, async (c, h) => {
    const claims: Record<string, unknown> = {
      aud: c.aud === 'auto' ? (c.version === 2 ? API_CLIENT_ID : API_URI) : c.aud,
      iss: issuerOf(c.iss, c.version),
      tid: c.tid,
      ver: c.ver === 'auto' ? (c.version === 2 ? '2.0' : '1.0') : c.ver,
      exp: c.exp,
      iat: c.iat,
      nbf: c.nbf,
      roles: c.roles,
      scp: c.scp,
      [c.version === 2 ? 'azp' : 'appid']: c.client,
      idtyp: c.idtyp,
      groups: c.groups,
      oid: '9c1c2ad5-4a8e-4f6b-9d2b-6c1e5a3f7b80',
    }
    const header = { typ: 'JWT', alg: h.alg, kid: h.kid, ...h.extra }
    // What the token really holds once JSON drops undefined members.
    const sentHeader = JSON.parse(JSON.stringify(header)) as Record<string, unknown>
    const sentClaims = JSON.parse(JSON.stringify(claims)) as Record<string, unknown>
    const token = ctx.lab.signBytes(JSON.stringify(header), JSON.stringify(claims))
    const allowed = expectedCodes(sentHeader, sentClaims, ctx.api)
    const outcome = await outcomeOf(ctx.validator, token)
    if (outcome.accepted) tally.accepted++
    else tally.refused++
    if (allowed.length === 0) {
      if (!outcome.accepted)
        throw new Error(`the model accepts, the validator refused: ${outcome.code} (${outcome.detail})`)
      return
    }
    if (outcome.accepted) throw new Error(`the model refuses (${allowed.join(', ')}), the validator accepted`)
    if (!allowed.includes(outcome.code)) {
      throw new Error(
        `refused with ${outcome.code} (${outcome.detail}); the model expects one of ${allowed.join(', ')}`,
      )
    }
  })
}

/** Over HTTP: any Authorization value → 200 only for the unchanged token, never a 5xx, never a hang. */
export function httpHeaderMutations(ctx: FuzzContext, api: () => RunningApi) {
  return fc.asyncProperty(fc.nat(1), headerArb, async (which, shape) => {
    const token = ctx.tokens[which] as string
    // Node's client sends only field-value bytes (TAB, SP–~, 0x80–0xFF); map the rest onto a visible byte.
    const header = headerOf(shape, token).replace(/[^\t\x20-\x7e\x80-\xff]/g, '\u00bf')
    const reply = await get(`${api().base}/stocks`, header)
    // Node strips optional whitespace (SP, TAB) around a field value before the application sees it.
    const seen = header.replace(/^[ \t]+|[ \t]+$/g, '')
    if (reply.status >= 500) throw new Error(`answered ${reply.status}: ${reply.body.slice(0, 200)}`)
    if (carriesToken(seen, token)) {
      if (reply.status !== 200) throw new Error(`the unchanged token got ${reply.status}`)
      return
    }
    if (![400, 401, 431].includes(reply.status))
      throw new Error(`answered ${reply.status}, expected 400, 401 or 431`)
    if (reply.body.includes(segmentsOf(token)[2] as string)) throw new Error('the body echoes the token')
  })
}

/**
 * GETs a loopback URL with one Authorization value on a fresh connection (no keep-alive: a server may close
 * a connection after a 400 or 431, and a reused socket would fail the property for the client's reason).
 */
function get(url: string, authorization: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { headers: { authorization }, agent: false, timeout: HANG_MS * 2 }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      )
    })
    req.on('timeout', () => req.destroy(new Error('the request hung')))
    req.on('error', reject)
    req.end()
  })
}

/** The HTTP APIs the HTTP property runs against (one Express, one Fastify), trusting the context's lab. */
export async function startFuzzApis(ctx: FuzzContext, frameworks: Framework[]): Promise<RunningApi[]> {
  return Promise.all(frameworks.map((f) => startScenarioApi(f, ctx.lab, AUDIENCES)))
}
