import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  type AuthEvent,
  authorize,
  createPolicy,
  createValidator,
  type Principal,
  type Validator,
} from '@entraguard/core'
import { context, metrics, type Span, SpanStatusCode, trace } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import {
  type DataPoint,
  type Histogram,
  MeterProvider,
  MetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics'
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
} from '@opentelemetry/sdk-trace-base'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { API_CLIENT_ID, type LocalIssuer, MI_CLIENT_ID, startLocalIssuer } from './local-issuer.js'

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

const spans = new InMemorySpanExporter()
const reader = new TestReader()
const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(spans)] })
const meterProvider = new MeterProvider({ readers: [reader] })
const contextManager = new AsyncLocalStorageContextManager()

let issuer: LocalIssuer
let early: Validator
let token: string
const validators: Validator[] = []
function validator(options: Partial<Parameters<typeof createValidator>[0]> = {}): Validator {
  const v = createValidator({
    tenant: issuer.tenantId,
    audience: API_CLIENT_ID,
    authority: issuer.authority,
    ...options,
  })
  validators.push(v)
  return v
}

beforeAll(async () => {
  issuer = await startLocalIssuer()
  token = await issuer.sign(issuer.claims(2))
  // Created, and used, before any SDK is registered.
  early = validator()
})
afterAll(async () => {
  for (const v of validators) v.close()
  await issuer.close()
  trace.disable()
  metrics.disable()
  context.disable()
  await tracerProvider.shutdown()
  await meterProvider.shutdown()
})

let registered = false
function register(): void {
  if (registered) return
  registered = true
  contextManager.enable()
  context.setGlobalContextManager(contextManager)
  trace.setGlobalTracerProvider(tracerProvider)
  metrics.setGlobalMeterProvider(meterProvider)
}

const request = trace.getTracer('test-http-server')
/** Runs `fn` inside a server span, as an HTTP instrumentation would around a request handler. */
async function inRequest<T>(fn: () => Promise<T>): Promise<{ value: T; span: Span }> {
  return request.startActiveSpan('GET /stocks', { kind: 1 }, async (span) => {
    try {
      return { value: await fn(), span }
    } finally {
      span.end()
    }
  })
}

const named = (name: string) => spans.getFinishedSpans().filter((s) => s.name === name)
const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId

async function collect(): Promise<ResourceMetrics> {
  const { resourceMetrics, errors } = await reader.collect()
  expect(errors).toEqual([])
  return resourceMetrics
}
function points(rm: ResourceMetrics, name: string): DataPoint<unknown>[] {
  const metric = rm.scopeMetrics
    .filter((s) => s.scope.name === '@entraguard/core')
    .flatMap((s) => s.metrics)
    .find((m) => m.descriptor.name === name)
  return (metric?.dataPoints ?? []) as DataPoint<unknown>[]
}
function sum(rm: ResourceMetrics, name: string, where: Record<string, unknown> = {}): number {
  return points(rm, name)
    .filter((p) => Object.entries(where).every(([k, v]) => p.attributes[k] === v))
    .reduce((total, p) => total + (p.value as number), 0)
}

const ago = (seconds: number) => Math.floor(Date.now() / 1000) - seconds
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (e: { code?: string }) => e.code ?? String(e),
  )

describe('without an SDK', () => {
  it('validates and records nothing', async () => {
    const principal = await early.validate(`Bearer ${token}`)
    expect(principal.clientId).toBe(MI_CLIENT_ID)
    expect(await codeOf(early.validate(undefined))).toBe('missing_token')
    register()
    expect(spans.getFinishedSpans()).toEqual([])
    expect(points(await collect(), 'entraguard.validations')).toEqual([])
  })
})

describe('with an SDK registered after the validator was created', () => {
  beforeAll(register)
  beforeEach(() => spans.reset())

  it('traces a validation as a child of the request span, with its key fetches under it', async () => {
    const fresh = validator()
    const before = issuer.requests.length
    const { value, span } = await inRequest(() => fresh.validate(`Bearer ${token}`))
    expect(value.clientId).toBe(MI_CLIENT_ID)

    const [validate] = named('entraguard.validate')
    expect(named('entraguard.validate')).toHaveLength(1)
    expect(validate?.spanContext().traceId).toBe(span.spanContext().traceId)
    expect(validate && parentOf(validate)).toBe(span.spanContext().spanId)
    expect(validate?.attributes).toEqual({
      'entraguard.result': 'ok',
      'entraguard.cached': false,
      'entraguard.token_version': 2,
      'entraguard.tenant_id': issuer.tenantId,
      'entraguard.client_id': MI_CLIENT_ID,
      'entraguard.identity_type': 'app',
    })
    expect(validate?.status.code).toBe(SpanStatusCode.UNSET)

    // One keys.fetch span per real GET, each a child of the validate span.
    const fetches = named('entraguard.keys.fetch')
    const gets = issuer.requests.slice(before)
    expect(fetches.map((f) => new URL(f.attributes['url.full'] as string).pathname).sort()).toEqual(
      gets.map((g) => new URL(g, 'http://x').pathname).sort(),
    )
    expect(gets.some((g) => g.includes('/keys'))).toBe(true)
    for (const f of fetches) {
      expect(parentOf(f)).toBe(validate?.spanContext().spanId)
      expect(f.kind).toBe(2) // client
      expect(f.attributes).toMatchObject({
        'http.request.method': 'GET',
        'http.response.status_code': 200,
        'entraguard.outcome': 'ok',
      })
      expect(f.attributes['http.response.body.size']).toBeGreaterThan(50)
    }
  })

  it('gives every call one validate span and one duration value, cache hits included', async () => {
    const fresh = validator()
    await fresh.warm()
    const before = await collect()
    const fetchesBefore = issuer.requests.length
    spans.reset()
    for (let i = 0; i < 5; i++) await fresh.validate(token)
    expect(issuer.requests.length).toBe(fetchesBefore)
    const validates = named('entraguard.validate')
    expect(validates.map((s) => s.attributes['entraguard.cached'])).toEqual([false, false, true, true, true])
    expect(named('entraguard.keys.fetch')).toEqual([])

    const after = await collect()
    const delta = (where: Record<string, unknown>) =>
      sum(after, 'entraguard.validations', where) - sum(before, 'entraguard.validations', where)
    expect(delta({ 'entraguard.result': 'ok', 'entraguard.cached': true })).toBe(3)
    expect(delta({ 'entraguard.result': 'ok', 'entraguard.cached': false })).toBe(2)
    const count = (rm: ResourceMetrics) =>
      points(rm, 'entraguard.validation.duration').reduce((n, p) => n + (p.value as Histogram).count, 0)
    expect(count(after) - count(before)).toBe(5)
    const hits = points(after, 'entraguard.validation.duration').find(
      (p) => p.attributes['entraguard.cached'] === true,
    )
    expect((hits?.value as Histogram).min).toBeGreaterThanOrEqual(0)
    expect((hits?.value as Histogram).max).toBeLessThan(1000)
  })

  it('marks every refusal as an error with its code, and names no tenant or client', async () => {
    const fresh = validator()
    const expired = await issuer.sign(issuer.claims(2, { iat: ago(7200), nbf: ago(7200), exp: ago(3600) }))
    const before = await collect()
    const results = [
      await codeOf(fresh.validate(undefined)),
      await codeOf(fresh.validate('Bearer x.y.z')),
      await codeOf(fresh.validate(`Bearer ${expired}`)),
      await codeOf(fresh.validate(`Bearer ${await issuer.sign(issuer.claims(2, { aud: 'api://other' }))}`)),
    ]
    expect(results).toEqual(['missing_token', 'malformed_token', 'expired', 'invalid_audience'])
    const validates = named('entraguard.validate')
    expect(validates.map((s) => s.attributes['entraguard.result'])).toEqual(results)
    for (const s of validates) {
      expect(s.status).toEqual({ code: SpanStatusCode.ERROR, message: s.attributes['entraguard.result'] })
      expect(Object.keys(s.attributes).sort()).toEqual([
        'entraguard.cached',
        'entraguard.result',
        'error.type',
      ])
      expect(s.events).toEqual([])
    }
    const after = await collect()
    for (const code of results) {
      const where = { 'entraguard.result': code, 'entraguard.cached': false }
      expect(sum(after, 'entraguard.validations', where) - sum(before, 'entraguard.validations', where)).toBe(
        1,
      )
    }
  })

  it('never exports the token or claims beyond those named', async () => {
    const fresh = validator()
    const secretish = await issuer.sign(issuer.claims(2, { name: 'Ada Lovelace', upn: 'ada@contoso.com' }))
    await inRequest(() => fresh.validate(`Bearer ${secretish}`))
    await codeOf(fresh.validate(`Bearer ${secretish.slice(0, -4)}AAAA`))
    const exported = JSON.stringify(
      spans.getFinishedSpans().map((s) => ({ a: s.attributes, e: s.events, st: s.status, n: s.name })),
    )
    const metricsText = JSON.stringify(await collect())
    for (const text of [exported, metricsText]) {
      for (const part of secretish.split('.')) expect(text).not.toContain(part.slice(0, 40))
      expect(text).not.toContain('Ada Lovelace')
      expect(text).not.toContain('ada@contoso.com')
      expect(text).not.toContain('reader-vm')
    }
  })

  it('traces a failed fetch (status, error) and the 503 it causes', async () => {
    const fresh = validator()
    issuer.fault = { match: /\/keys$/, status: 500, body: 'oops' }
    try {
      const before = await collect()
      expect(await codeOf(fresh.validate(token))).toBe('metadata_unavailable')
      const failed = named('entraguard.keys.fetch').filter(
        (f) => f.attributes['entraguard.outcome'] === 'failure',
      )
      expect(failed).toHaveLength(1)
      expect(failed[0]?.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' })
      expect(failed[0]?.status.code).toBe(SpanStatusCode.ERROR)
      expect(failed[0]?.status.message).toContain('answered 500')
      const after = await collect()
      const where = { 'entraguard.outcome': 'failure' }
      expect(
        sum(after, 'entraguard.keys.fetches', where) - sum(before, 'entraguard.keys.fetches', where),
      ).toBe(1)
      const [validate] = named('entraguard.validate')
      expect(validate?.attributes['entraguard.result']).toBe('metadata_unavailable')
      expect(validate?.status.code).toBe(SpanStatusCode.ERROR)
    } finally {
      issuer.fault = undefined
    }
  })

  it('keeps background key refreshes out of the request trace, and reports key count and age', async () => {
    const fresh = validator({ jwks: { refreshInterval: 150 } })
    const { span } = await inRequest(() => fresh.validate(token))
    const requestTrace = span.spanContext().traceId
    const inTrace = named('entraguard.keys.fetch').length
    const isKeys = (f: ReadableSpan) => String(f.attributes['url.full']).endsWith('/keys')
    // A refresh reads the metadata, then the key set: wait for the key set.
    await expect
      .poll(() => named('entraguard.keys.fetch').slice(inTrace).filter(isKeys).length, { timeout: 3000 })
      .toBeGreaterThan(0)
    const background = named('entraguard.keys.fetch').slice(inTrace)
    for (const f of background) {
      expect(f.spanContext().traceId).not.toBe(requestTrace)
      expect(f.parentSpanContext).toBeUndefined()
    }
    const rm = await collect()
    const keysUrl = background.find(isKeys)?.attributes['url.full']
    expect(keysUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*\/keys$/)
    const count = points(rm, 'entraguard.keys.count').find((p) => p.attributes['url.full'] === keysUrl)
    const age = points(rm, 'entraguard.keys.age').find((p) => p.attributes['url.full'] === keysUrl)
    expect(count?.value).toBe(1)
    expect(age?.value).toBeGreaterThanOrEqual(0)
    expect(age?.value).toBeLessThan(60)
  })

  it('traces every policy decision and counts requirement checks', async () => {
    const principal: Principal = await early.validate(token)
    const policy = createPolicy({
      roles: { Reader: { actions: ['stocks/read'] } },
      assignments: [{ role: 'Reader', appRole: 'Stocks.Read', scope: '/stocks' }],
    })
    const events: Omit<AuthEvent, 'at'>[] = []
    const sink = (e: Omit<AuthEvent, 'at'>) => events.push(e)
    const before = await collect()
    spans.reset()
    const { span } = await inRequest(async () => {
      authorize(
        principal,
        {
          requirement: { roles: ['Stocks.Read'] },
          permission: { policy, action: 'stocks/read', resource: '/stocks/AAPL' },
        },
        { method: 'GET', route: '/stocks/:symbol' },
        sink,
      )
      let denied = 'allowed'
      try {
        authorize(
          principal,
          { permission: { policy, action: 'stocks/trade', resource: '/stocks/AAPL' } },
          {},
          sink,
        )
      } catch (e) {
        denied = (e as { code: string }).code
      }
      return denied
    })
    const decisions = named('entraguard.authorize')
    expect(decisions).toHaveLength(2)
    for (const d of decisions) expect(parentOf(d)).toBe(span.spanContext().spanId)
    expect(decisions[0]?.attributes).toEqual({
      'entraguard.action': 'stocks/read',
      'entraguard.resource': '/stocks/AAPL',
      'entraguard.allowed': true,
      'entraguard.role': 'Reader',
    })
    expect(decisions[0]?.status.code).toBe(SpanStatusCode.UNSET)
    expect(decisions[1]?.attributes).toEqual({
      'entraguard.action': 'stocks/trade',
      'entraguard.resource': '/stocks/AAPL',
      'entraguard.allowed': false,
    })
    expect(decisions[1]?.status).toEqual({ code: SpanStatusCode.ERROR, message: 'forbidden' })
    expect(events.map((e) => e.type)).toEqual(['access.allowed', 'access.denied'])

    const after = await collect()
    const delta = (where: Record<string, unknown>) =>
      sum(after, 'entraguard.decisions', where) - sum(before, 'entraguard.decisions', where)
    expect(delta({ 'entraguard.check': 'policy', 'entraguard.allowed': true })).toBe(1)
    expect(delta({ 'entraguard.check': 'policy', 'entraguard.allowed': false })).toBe(1)
    expect(delta({ 'entraguard.check': 'requirement', 'entraguard.allowed': true })).toBe(1)
  })
})

describe('without @opentelemetry/api installed', () => {
  it('validates and refuses as usual', { timeout: 20_000 }, async () => {
    // A fresh process in which resolving @opentelemetry/api fails, as it does when the optional peer is absent.
    const dir = mkdtempSync(join(tmpdir(), 'entraguard-otel-'))
    const block = join(dir, 'block.cjs')
    writeFileSync(
      block,
      `const M = require('node:module'); const resolve = M._resolveFilename;
      M._resolveFilename = function (request, ...rest) {
        if (request.startsWith('@opentelemetry/')) throw Object.assign(new Error('absent'), { code: 'MODULE_NOT_FOUND' })
        return resolve.call(this, request, ...rest)
      }`,
    )
    const probe = `
      import { createRequire } from 'node:module'
      const { createValidator } = await import('@entraguard/core')
      const e = process.env
      const absent = (() => { try { createRequire(import.meta.url)('@opentelemetry/api'); return false } catch { return true } })()
      const v = createValidator({ tenant: e.TENANT, audience: e.AUDIENCE, authority: e.AUTHORITY })
      const p = await v.validate('Bearer ' + e.TOKEN)
      const refused = await v.validate('Bearer x.y.z').catch((err) => err.code)
      v.close()
      console.log(JSON.stringify({ absent, clientId: p.clientId, refused }))`
    const child = spawn(
      process.execPath,
      ['--conditions=source', '--require', block, '--import', 'tsx', '--input-type=module', '-e', probe],
      {
        cwd: fileURLToPath(new URL('..', import.meta.url)),
        stdio: ['ignore', 'pipe', 'pipe'],
        env: {
          ...process.env,
          TENANT: issuer.tenantId,
          AUDIENCE: API_CLIENT_ID,
          AUTHORITY: issuer.authority,
          TOKEN: token,
        },
      },
    )
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString()
    })
    child.stderr.on('data', (c: Buffer) => {
      err += c.toString()
    })
    const code = await new Promise((resolve) => child.once('exit', resolve))
    rmSync(dir, { recursive: true, force: true })
    expect(err).toBe('')
    expect(code).toBe(0)
    expect(JSON.parse(out)).toEqual({ absent: true, clientId: MI_CLIENT_ID, refused: 'malformed_token' })
  })
})
