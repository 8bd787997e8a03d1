import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { performance } from 'node:perf_hooks'
import {
  AuthError,
  type AuthEvent,
  createValidator,
  type Validator,
  type ValidatorOptions,
} from '@entraguard/core'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { API_APP_ID_URI, API_CLIENT_ID } from '../packages/core/test/local-issuer.js'
import { startApi } from './support/apps.js'
import {
  type Fault,
  type FaultIssuer,
  type FaultTarget,
  faults,
  startFaultIssuer,
} from './support/fault-issuer.js'
import { send } from './support/http.js'

// The identity-provider fault matrix (security-testing.md §4 and §6 D): every way the issuer can misbehave,
// on the metadata document and on the key set, with no keys cached (cold) and with good keys cached (warm).
const TIMEOUT = 400
// A cold answer must come within the timeout; the slack covers the metadata round trip and a busy machine,
// and stays far below what the faults would take if the timeout did not cut them (5 s, 1 byte/s, 50 MB).
const DEADLINE = TIMEOUT + 1350
const MB = 1024 * 1024

let issuer: FaultIssuer
let canary: { url: string; connections: number; close(): Promise<void> }
const validators: Validator[] = []

beforeAll(async () => {
  issuer = await startFaultIssuer()
  canary = await startCanary()
  // Node loads its fetch implementation on first use, which can take longer than the timeout on a
  // busy machine: load it now, so that the first case measures the issuer and not the module loader.
  await (
    await fetch(`${issuer.authority}/${issuer.inner.tenantId}/v2.0/.well-known/openid-configuration`)
  ).text()
})
afterAll(async () => {
  await issuer.close()
  await canary.close()
})
beforeEach(() => issuer.reset())
afterEach(() => {
  for (const v of validators.splice(0)) v.close()
})

/** A server that must never be contacted: it counts connections. */
async function startCanary() {
  const server = createServer((_req, res) => res.writeHead(200).end('{"keys":[]}'))
  const state = { url: '', connections: 0, close: async () => {} }
  server.on('connection', () => state.connections++)
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/keys`
  state.close = async () => {
    server.closeAllConnections()
    server.close()
    await once(server, 'close')
  }
  return state
}

function newValidator(extra: Partial<ValidatorOptions> = {}): { v: Validator; events: AuthEvent[] } {
  const events: AuthEvent[] = []
  const { jwks, ...rest } = extra
  const v = createValidator({
    tenant: issuer.inner.tenantId,
    audience: [API_APP_ID_URI, API_CLIENT_ID],
    authority: issuer.authority,
    // Every request verifies for real: the validated-token cache would hide what the key store does.
    cache: false,
    jwks: { timeout: TIMEOUT, cooldown: 0, ...jwks },
    onEvent: (e) => events.push(e),
    ...rest,
  })
  validators.push(v)
  return { v, events }
}

const good = (extra: Record<string, unknown> = {}, kid?: string) =>
  issuer.inner.sign(issuer.inner.claims(2, extra), kid === undefined ? {} : { kid })

const kidOf = (token: string) =>
  (JSON.parse(Buffer.from(token.split('.')[0] ?? '', 'base64url').toString()) as { kid: string }).kid

async function outcome(
  p: Promise<unknown>,
): Promise<{ code: string; error: AuthError | undefined; ms: number }> {
  const started = performance.now()
  return p.then(
    () => ({ code: 'ok', error: undefined, ms: performance.now() - started }),
    (e: unknown) => {
      if (!(e instanceof AuthError)) throw e
      return { code: e.code, error: e, ms: performance.now() - started }
    },
  )
}

function rsaJunk(kid: string) {
  return {
    kty: 'RSA',
    use: 'sig',
    kid,
    e: 'AQAB',
    n: Buffer.alloc(256, kid.length % 250).toString('base64url'),
  }
}

type Case = [name: string, targets: FaultTarget[], make: (t: FaultTarget) => Fault, detail: RegExp]
const both: FaultTarget[] = ['metadata', 'keys']
const cases: Case[] = [
  [
    'slow headers (5 s)',
    both,
    (t) => faults.slowHeaders(t, 5_000),
    new RegExp(`timed out after ${TIMEOUT} ms`),
  ],
  ['a body at 1 byte/s', both, (t) => faults.drip(t), /timed out/],
  ['a reset before the headers', both, (t) => faults.resetBeforeHeaders(t), /failed/],
  ['a reset after the headers', both, (t) => faults.resetAfterHeaders(t), /failed/],
  ['a reset mid-body', both, (t) => faults.resetMidBody(t), /failed/],
  [
    'a 50 MB body with its Content-Length',
    both,
    (t) => faults.huge(issuer, t, 50 * MB, true),
    /declared 52428800 bytes, more than the limit/,
  ],
  [
    'a 50 MB chunked body',
    both,
    (t) => faults.huge(issuer, t, 50 * MB, false),
    /more than the limit of 524288 bytes/,
  ],
  ['a 302 redirect off-origin', both, (t) => faults.redirect(t, 302, canary.url), /answered 302/],
  ['a 307 redirect off-origin', both, (t) => faults.redirect(t, 307, canary.url), /answered 307/],
  [
    'an HTML page',
    both,
    (t) => faults.body(t, '<!doctype html><title>Sign in</title>', 'text/html'),
    /did not return JSON/,
  ],
  ['{}', both, (t) => faults.body(t, {}), /not an OpenID configuration|not a JWK Set/],
  ['an empty key set', ['keys'], (t) => faults.body(t, { keys: [] }), /no usable RSA signing key/],
  [
    'keys without n',
    ['keys'],
    (t) => faults.body(t, { keys: [{ kty: 'RSA', use: 'sig', kid: 'k1', e: 'AQAB' }] }),
    /no usable RSA signing key.*no n or e/,
  ],
  [
    '10,000 keys',
    ['keys'],
    (t) => faults.body(t, { keys: Array.from({ length: 10_000 }, (_, i) => rsaJunk(`junk-${i}`)) }),
    /more than the limit|declared \d+ bytes/,
  ],
  [
    '429 with Retry-After',
    both,
    (t) => faults.status(t, 429, '{"error":"throttled"}', { 'retry-after': '120' }),
    /answered 429, expected 200 \(Retry-After 120 s\)/,
  ],
]
const matrix = cases.flatMap(([name, targets, make, detail]) =>
  targets.map(
    (target) =>
      [`${name} on the ${target === 'keys' ? 'key set' : 'metadata'}`, target, make, detail] as const,
  ),
)

describe('identity-provider faults, cold: metadata_unavailable (503 + Retry-After) within the timeout', () => {
  it.each(matrix)('%s', async (_name, target, make, detail) => {
    // The default cooldown (5 min) bounds the cold back-off: 1 s after the first failure.
    const { v, events } = newValidator({ jwks: { cooldown: 5 * 60_000 } })
    const token = await good()
    issuer.fault = make(target)
    const { code, error, ms } = await outcome(v.validate(token))
    expect(code).toBe('metadata_unavailable')
    expect(error?.status).toBe(503)
    expect(Number(error?.headers['Retry-After'])).toBeGreaterThanOrEqual(1)
    expect(error?.headers['WWW-Authenticate']).toBeUndefined()
    expect(error?.detail).toMatch(detail)
    expect(ms).toBeLessThan(DEADLINE)
    expect(events.filter((e) => e.type === 'keys.refresh_failed')).toHaveLength(1)
    // One fetch of the faulty document (the metadata: one per accepted token version, at most).
    const hits = issuer.hits[target]
    expect(hits).toBeGreaterThanOrEqual(1)
    expect(hits).toBeLessThanOrEqual(target === 'metadata' ? 2 : 1)
    expect(canary.connections).toBe(0)
    // Far less than 50 MB went through before the validator hung up.
    expect(issuer.bytesStreamed).toBeLessThan(8 * MB)
    // Within the back-off, a second request answers at once without asking the issuer again.
    const again = await outcome(v.validate(token))
    expect(again.code).toBe('metadata_unavailable')
    expect(again.ms).toBeLessThan(DEADLINE)
    expect(issuer.hits[target]).toBe(hits)
  })
})

describe('identity-provider faults, warm: the last good keys keep serving, an unknown kid is a 401', () => {
  it.each(matrix)('%s', async (_name, target, make, detail) => {
    const { v, events } = newValidator()
    expect((await outcome(v.validate(await good()))).code).toBe('ok')
    issuer.reset()
    issuer.fault = make(target)
    const miss = await outcome(v.validate(await good({}, 'kid-nobody-published')))
    expect(miss.code).toBe('unknown_key')
    expect(miss.error?.status).toBe(401)
    expect(miss.error?.headers['WWW-Authenticate']).toContain('error="invalid_token"')
    expect(miss.ms).toBeLessThan(DEADLINE)
    // The refresh that the unknown kid caused reached the faulty document once, and failed.
    expect(issuer.hits.keys + issuer.hits.metadata).toBeGreaterThan(0)
    expect(issuer.hits[target]).toBeLessThanOrEqual(1)
    if (issuer.hits[target] === 1) {
      const failed = events.filter((e) => e.type === 'keys.refresh_failed')
      expect(failed).toHaveLength(1)
      expect(failed[0]?.reason).toMatch(detail)
      expect(failed[0]?.reason).toContain('the last good keys keep serving')
      expect(miss.error?.detail).toContain('the last refresh failed')
    }
    // A new token signed with a cached key verifies, without waiting for the issuer.
    const served = await outcome(v.validate(await good({ uti: 'after-the-fault' })))
    expect(served.code).toBe('ok')
    expect(served.ms).toBeLessThan(DEADLINE)
    expect(canary.connections).toBe(0)
    expect(issuer.bytesStreamed).toBeLessThan(8 * MB)
  })
})

describe('key rotation and removal', () => {
  it('picks up a rotated key with exactly one key-set fetch, even for 50 concurrent requests', async () => {
    const { v } = newValidator()
    await v.warm()
    expect(issuer.hits.keys).toBeGreaterThanOrEqual(1)
    issuer.reset()
    const kid = await issuer.inner.rotate()
    const results = await Promise.all(
      Array.from(
        { length: 50 },
        async (_, i) => (await outcome(v.validate(await good({ uti: `r${i}` }, kid)))).code,
      ),
    )
    expect(new Set(results)).toEqual(new Set(['ok']))
    expect(issuer.hits.keys).toBe(1)
  })

  it('honours the cooldown: a new kid soon after a fetch waits for it, then takes one fetch', async () => {
    const cooldown = 1_500
    const { v } = newValidator({ jwks: { cooldown } })
    const firstKid = kidOf(await good())
    const kid = await issuer.inner.rotate()
    const token = await good({}, kid)
    issuer.hidden.add(kid)
    expect((await outcome(v.validate(await good({}, firstKid)))).code).toBe('ok')
    const fetchedAt = performance.now()
    issuer.reset() // the new key is published from now on, within the cooldown
    expect((await outcome(v.validate(token))).code).toBe('unknown_key')
    expect(performance.now() - fetchedAt).toBeLessThan(cooldown)
    expect(issuer.hits.keys).toBe(0)
    await new Promise((r) => setTimeout(r, cooldown - (performance.now() - fetchedAt) + 50))
    expect((await outcome(v.validate(token))).code).toBe('ok')
    expect(issuer.hits.keys).toBe(1)
  })

  it('a key removed from the key set stops verifying after the next refresh', async () => {
    const { v } = newValidator({ jwks: { refreshInterval: 100 } })
    const oldKid = await issuer.inner.rotate()
    const newKid = await issuer.inner.rotate()
    expect((await outcome(v.validate(await good({}, oldKid)))).code).toBe('ok')
    issuer.reset()
    issuer.inner.unpublish(oldKid)
    // The background refresh (every ~100 ms) sees the removal; no unknown kid is needed to trigger it.
    await new Promise((r) => setTimeout(r, 350))
    expect(issuer.hits.keys).toBeGreaterThanOrEqual(1)
    const hits = issuer.hits.keys
    const removed = await outcome(v.validate(await good({ uti: 'after-removal' }, oldKid)))
    expect(removed.code).toBe('unknown_key')
    expect((await outcome(v.validate(await good({}, newKid)))).code).toBe('ok')
    expect(issuer.hits.keys - hits).toBeLessThanOrEqual(1)
  })

  it('a cached validation signed by a removed key does not outlive the key', async () => {
    const { v } = newValidator({ cache: { maxEntries: 100 }, jwks: { refreshInterval: 100 } })
    const oldKid = await issuer.inner.rotate()
    const newKid = await issuer.inner.rotate()
    const reused = await good({ uti: 'reused' }, oldKid)
    const other = await good({ uti: 'other' }, newKid)
    // Seen three times each: the validated-token cache now answers for both.
    for (let i = 0; i < 3; i++) {
      expect((await outcome(v.validate(reused))).code).toBe('ok')
      expect((await outcome(v.validate(other))).code).toBe('ok')
    }
    expect(v.stats.cachedTokens).toBeGreaterThanOrEqual(2)
    issuer.inner.unpublish(oldKid)
    await new Promise((r) => setTimeout(r, 350))
    expect((await outcome(v.validate(reused))).code).toBe('unknown_key')
    expect((await outcome(v.validate(other))).code).toBe('ok')
  })
})

describe('an outage longer than jwks.maxStale', () => {
  it('serves the last good keys up to maxStale (24 h by default), then answers 503', async () => {
    let clock = Date.now()
    const { v } = newValidator({
      now: () => clock,
      cache: { maxEntries: 100 },
      jwks: { refreshInterval: 24 * 3600_000 },
    })
    const at = (ms: number) => {
      clock = ms
      const iat = Math.floor(ms / 1000) - 60
      return good({ iat, nbf: iat, exp: iat + 3600, uti: `t${ms}` })
    }
    const start = clock
    expect((await outcome(v.validate(await at(start)))).code).toBe('ok')
    const reused = await good({
      iat: Math.floor(start / 1000) - 60,
      exp: Math.floor(start / 1000) + 30 * 3600,
    })
    for (let i = 0; i < 3; i++) expect((await outcome(v.validate(reused))).code).toBe('ok')
    expect(v.stats.cachedTokens).toBe(1)
    issuer.fault = faults.status('keys', 503, 'down')
    const hour = 3600_000
    expect((await outcome(v.validate(await at(start + 23 * hour)))).code).toBe('ok')
    expect((await outcome(v.validate(await at(start + 24 * hour - 1_000)))).code).toBe('ok')
    const past = await outcome(v.validate(await at(start + 24 * hour + 1_000)))
    expect(past.code).toBe('metadata_unavailable')
    expect(past.error?.status).toBe(503)
    // A cached validation is served exactly as long as a fresh one would pass: not past maxStale either.
    expect((await outcome(v.validate(reused))).code).toBe('metadata_unavailable')
    expect(Number(past.error?.headers['Retry-After'])).toBeGreaterThanOrEqual(1)
    // The issuer is back: the next attempt after the back-off fetches and serves again.
    issuer.fault = undefined
    expect((await outcome(v.validate(await at(start + 25 * hour)))).code).toBe('ok')
  })

  it('with a short maxStale, real time: keys serve, then 503, then recover', async () => {
    const { v } = newValidator({ jwks: { maxStale: 300, refreshInterval: 100, cooldown: 100 } })
    expect((await outcome(v.validate(await good()))).code).toBe('ok')
    issuer.fault = faults.status('keys', 500, 'down')
    expect((await outcome(v.validate(await good({ uti: 'a' })))).code).toBe('ok')
    await new Promise((r) => setTimeout(r, 400))
    const down = await outcome(v.validate(await good({ uti: 'b' })))
    expect(down.code).toBe('metadata_unavailable')
    issuer.fault = undefined
    await new Promise((r) => setTimeout(r, 500)) // the back-off is capped by the 100 ms cooldown
    expect((await outcome(v.validate(await good({ uti: 'c' })))).code).toBe('ok')
  })
})

describe('the fetch itself', () => {
  it('enforces the timeout even when an injected fetch ignores the abort signal', async () => {
    const { v } = newValidator({
      fetch: (input) => {
        if (String(input).includes('openid-configuration')) return globalThis.fetch(input)
        return new Promise<Response>(() => {}) // never settles, ignores the signal
      },
    })
    const { code, ms } = await outcome(v.validate(await good()))
    expect(code).toBe('metadata_unavailable')
    expect(ms).toBeLessThan(DEADLINE)
  })

  it('enforces the timeout on a body stream that ignores the abort signal', async () => {
    const { v } = newValidator({
      fetch: async (input) => {
        if (String(input).includes('openid-configuration')) return globalThis.fetch(input)
        const body = new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(new TextEncoder().encode('{"keys":['))
          },
        })
        return new Response(body, { status: 200, headers: { 'content-type': 'application/json' } })
      },
    })
    const { code, error, ms } = await outcome(v.validate(await good()))
    expect(code).toBe('metadata_unavailable')
    expect(error?.detail).toMatch(/timed out/)
    expect(ms).toBeLessThan(DEADLINE)
  })

  it('a key set of 10,000 keys under a raised maxBytes is parsed in bounded time, and only real keys verify', async () => {
    const { v } = newValidator({ jwks: { maxBytes: 16 * MB, timeout: 5_000 } })
    const real = issuer.inner
    const junk = Array.from({ length: 10_000 }, (_, i) => rsaJunk(`junk-${i}`))
    real.extraKeys = junk
    try {
      const started = performance.now()
      expect((await outcome(v.validate(await good()))).code).toBe('ok')
      expect(performance.now() - started).toBeLessThan(2_000)
      // A token naming a junk kid is not made valid by the junk key.
      const forged = await outcome(v.validate(await good({ uti: 'forged' }, 'junk-3')))
      expect(['invalid_signature', 'unknown_key']).toContain(forged.code)
    } finally {
      real.extraKeys = []
    }
  })
})

describe('over HTTP', () => {
  it.each(['express5', 'fastify5'] as const)(
    '%s: cold outage → 503 + Retry-After; warm outage → 200 for cached keys, 401 for an unknown kid',
    async (framework) => {
      const events: AuthEvent[] = []
      const { v } = newValidator({ onEvent: (e) => events.push(e) })
      const api = await startApi(framework, v, events)
      try {
        issuer.fault = faults.resetBeforeHeaders('metadata')
        const cold = await send(api.base, '/whoami', { headers: { authorization: `Bearer ${await good()}` } })
        expect(cold.status).toBe(503)
        expect(Number(cold.headers['retry-after'])).toBeGreaterThanOrEqual(1)
        expect(cold.headers['www-authenticate']).toBeUndefined()
        expect(cold.json().error).toBe('metadata_unavailable')

        issuer.fault = undefined // with jwks.cooldown 0 there is no cold back-off to wait for
        const ok = await send(api.base, '/whoami', { headers: { authorization: `Bearer ${await good()}` } })
        expect(ok.status).toBe(200)

        issuer.fault = faults.slowHeaders('keys', 5_000)
        const unknown = await send(api.base, '/whoami', {
          headers: { authorization: `Bearer ${await good({}, 'kid-nobody-published')}` },
        })
        expect(unknown.status).toBe(401)
        expect(unknown.headers['www-authenticate']).toContain('error="invalid_token"')
        const served = await send(api.base, '/whoami', {
          headers: { authorization: `Bearer ${await good({ uti: 'warm' })}` },
        })
        expect(served.status).toBe(200)
        expect(events.some((e) => e.type === 'keys.refresh_failed')).toBe(true)
      } finally {
        await api.close()
      }
    },
  )
})
