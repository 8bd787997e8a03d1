import { createRequire } from 'node:module'
import type * as OTel from '@opentelemetry/api'
import { isAuthError } from './errors.js'
import type { Policy } from './policy.js'
import type { Principal } from './principal.js'
import type { Decision } from './requirements.js'

// OpenTelemetry through the optional peer @opentelemetry/api, from the global providers. Nothing here runs at
// import: the API is required on first use, and tracer and instruments are looked up again whenever the global
// providers change, so an SDK registered after a validator was created is used from then on.

/** The name of the tracer and the meter. */
export const INSTRUMENTATION_NAME = '@entraguard/core'

let otel: typeof OTel | null | undefined

/** The API, or null when `@opentelemetry/api` is not installed. Resolved once. */
function api(): typeof OTel | null {
  if (otel === undefined) {
    try {
      otel = createRequire(import.meta.url)('@opentelemetry/api') as typeof OTel
    } catch {
      otel = null
    }
  }
  return otel
}

// The API (1.x, the peer range) keeps whatever is registered with it (tracer and meter providers, context
// manager, propagator, diagnostic logger) in one object on globalThis under this key, made at the first
// registration. Until it exists there is nothing to record to: one global look-up answers that, instead of
// two providers' (≈100 ns per validation on the hot path).
const REGISTRY = Symbol.for('opentelemetry.js.api.1')

/** The API when something is registered with it, else null (nothing registered, or the API not installed). */
function registered(): typeof OTel | null {
  return (globalThis as Record<symbol, unknown>)[REGISTRY] === undefined ? null : api()
}

/** Milliseconds: histogram buckets from a cache hit (a few µs) to a fetch that times out. */
const DURATION_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1000, 5000]

interface Instruments {
  validations: OTel.Counter
  duration: OTel.Histogram
  fetches: OTel.Counter
  decisions: OTel.Counter
}

// Each cached against the global provider it came from; undefined while that provider is the API's no-op.
let tracing: { provider: OTel.TracerProvider; tracer: OTel.Tracer | undefined } | undefined
let metering: { provider: OTel.MeterProvider; instruments: Instruments | undefined } | undefined
let noopTracerProvider: OTel.TracerProvider | undefined

/** The tracer, or undefined when no tracer provider is registered (then a span would record nothing). */
function tracerOf(o: typeof OTel): OTel.Tracer | undefined {
  const provider = o.trace.getTracerProvider()
  if (tracing?.provider === provider && (tracing.tracer !== undefined || !hasDelegate(o, provider))) {
    return tracing.tracer
  }
  tracing = {
    provider,
    tracer: hasDelegate(o, provider) ? provider.getTracer(INSTRUMENTATION_NAME) : undefined,
  }
  return tracing.tracer
}

/** False for the API's own proxy before an SDK is set behind it. */
function hasDelegate(o: typeof OTel, provider: OTel.TracerProvider): boolean {
  noopTracerProvider ??= new o.ProxyTracerProvider().getDelegate()
  return !(provider instanceof o.ProxyTracerProvider) || provider.getDelegate() !== noopTracerProvider
}

/** The instruments, or undefined when no meter provider is registered. */
function metricsOf(o: typeof OTel): Instruments | undefined {
  const provider = o.metrics.getMeterProvider()
  if (metering?.provider === provider) return metering.instruments
  const meter = provider.getMeter(INSTRUMENTATION_NAME)
  metering = { provider, instruments: meter === o.createNoopMeter() ? undefined : instrument(meter, o) }
  return metering.instruments
}

function instrument(meter: OTel.Meter, o: typeof OTel): Instruments {
  observeKeySets(meter, o)
  return {
    validations: meter.createCounter('entraguard.validations', {
      description: 'Calls of validate(), by result and whether the validated-token cache answered',
      valueType: o.ValueType.INT,
    }),
    duration: meter.createHistogram('entraguard.validation.duration', {
      description: 'Duration of validate(), cache hits included',
      unit: 'ms',
      advice: { explicitBucketBoundaries: DURATION_BUCKETS },
    }),
    fetches: meter.createCounter('entraguard.keys.fetches', {
      description: 'GETs of OpenID configuration documents and key sets, by outcome',
      valueType: o.ValueType.INT,
    }),
    decisions: meter.createCounter('entraguard.decisions', {
      description: 'Authorization decisions, by outcome and by what decided (policy or requirement)',
      valueType: o.ValueType.INT,
    }),
  }
}

/** The telemetry of one `validate()` call: exactly one of `ok` or `fail` ends it. */
export interface ValidationTelemetry {
  /** Runs the uncached verification with the validate span active, so key fetches nest under it. */
  within<A, T>(verify: (arg: A) => T, arg: A): T
  ok(principal: Principal, cached: boolean): void
  fail(err: unknown): void
}

const NO_VALIDATION: ValidationTelemetry = {
  within: (verify, arg) => verify(arg),
  ok() {},
  fail() {},
}

/**
 * Starts the `entraguard.validate` span (a child of the active span, such as the framework's request span)
 * and the duration measurement of one `validate()` call. With nothing registered it costs one global look-up.
 *
 * @example
 * const telemetry = startValidation()
 * try {
 *   const principal = await telemetry.within(verify, token)
 *   telemetry.ok(principal, false)
 * } catch (err) {
 *   telemetry.fail(err)
 *   throw err
 * }
 */
export function startValidation(): ValidationTelemetry {
  const o = registered()
  if (o === null) return NO_VALIDATION
  const tracer = tracerOf(o)
  const m = metricsOf(o)
  if (tracer === undefined && m === undefined) return NO_VALIDATION
  const started = performance.now()
  const span = tracer?.startSpan('entraguard.validate', { kind: o.SpanKind.INTERNAL })
  const recording = span?.isRecording() === true
  let ended = false
  const end = (result: string, cached: boolean) => {
    ended = true
    span?.end()
    if (m === undefined) return
    const attributes = { 'entraguard.result': result, 'entraguard.cached': cached }
    m.validations.add(1, attributes)
    m.duration.record(performance.now() - started, attributes)
  }
  return {
    within(verify, arg) {
      return span !== undefined && recording
        ? o.context.with(o.trace.setSpan(o.context.active(), span), verify, undefined, arg)
        : verify(arg)
    },
    ok(principal, cached) {
      if (ended) return
      if (recording) {
        span?.setAttributes({
          'entraguard.result': 'ok',
          'entraguard.cached': cached,
          'entraguard.token_version': principal.tokenVersion,
          'entraguard.tenant_id': principal.tenantId,
          'entraguard.client_id': principal.clientId,
          'entraguard.identity_type': principal.identityType,
        })
      }
      end('ok', cached)
    },
    fail(err) {
      if (ended) return
      const result = isAuthError(err) ? err.code : 'error'
      if (recording) {
        span?.setAttributes({ 'entraguard.result': result, 'entraguard.cached': false, 'error.type': result })
        if (!isAuthError(err)) span?.recordException(err instanceof Error ? err : String(err))
        // The code, never the detail: details quote claim values.
        span?.setStatus({ code: o.SpanStatusCode.ERROR, message: result })
      }
      end(result, false)
    },
  }
}

/** What a fetch learned about its response; filled in by the fetch as it goes. */
export interface FetchProgress {
  readonly status?: number | undefined
  readonly bytes?: number | undefined
}

/**
 * Runs one GET of a metadata document or key set inside an `entraguard.keys.fetch` span (kind client) and
 * counts it in `entraguard.keys.fetches`.
 *
 * @example
 * const body = await traceFetch(url, progress, () => fetchAndRead(url, progress))
 */
export async function traceFetch<T>(url: string, progress: FetchProgress, run: () => Promise<T>): Promise<T> {
  const o = registered()
  const tracer = o === null ? undefined : tracerOf(o)
  const m = o === null ? undefined : metricsOf(o)
  if (o === null || (tracer === undefined && m === undefined)) return run()
  const span = tracer?.startSpan('entraguard.keys.fetch', {
    kind: o.SpanKind.CLIENT,
    attributes: { 'url.full': url, 'http.request.method': 'GET' },
  })
  const settle = (outcome: 'ok' | 'failure', err?: unknown) => {
    const { status, bytes } = progress
    if (span?.isRecording() === true) {
      span.setAttribute('entraguard.outcome', outcome)
      if (status !== undefined) span.setAttribute('http.response.status_code', status)
      if (bytes !== undefined) span.setAttribute('http.response.body.size', bytes)
      if (outcome === 'failure') {
        span.setAttribute(
          'error.type',
          status !== undefined && status !== 200 ? String(status) : 'fetch_failed',
        )
        // FetchFailure messages name the URL and what went wrong; they never hold a token.
        span.setStatus({
          code: o.SpanStatusCode.ERROR,
          message: err instanceof Error ? err.message : String(err),
        })
      }
    }
    span?.end()
    m?.fetches.add(
      1,
      status === undefined
        ? { 'entraguard.outcome': outcome }
        : { 'entraguard.outcome': outcome, 'http.response.status_code': status },
    )
  }
  try {
    const value =
      span?.isRecording() === true
        ? await o.context.with(o.trace.setSpan(o.context.active(), span), run)
        : await run()
    settle('ok')
    return value
  } catch (err) {
    settle('failure', err)
    throw err
  }
}

/**
 * Runs `fn` outside any trace, so that work it schedules (a background key refresh) does not join the trace
 * of the request that happened to schedule it.
 *
 * @example
 * setTimeout(() => detached(() => source.refresh()), delay)
 */
export function detached<T>(fn: () => T): T {
  const o = api()
  return o === null ? fn() : o.context.with(o.ROOT_CONTEXT, fn)
}

/**
 * `policy.authorize` inside an `entraguard.authorize` span, counted in `entraguard.decisions`.
 *
 * @example
 * const decision = tracedAuthorize(policy, principal, 'stocks/read', '/stocks/AAPL')
 */
export function tracedAuthorize(
  policy: Policy,
  principal: Principal,
  action: string,
  resource: string,
): Decision {
  const o = registered()
  if (o === null) return policy.authorize(principal, action, resource)
  const span = tracerOf(o)?.startSpan('entraguard.authorize', {
    kind: o.SpanKind.INTERNAL,
    attributes: { 'entraguard.action': action, 'entraguard.resource': resource },
  })
  let decision: Decision
  try {
    decision = policy.authorize(principal, action, resource)
  } catch (err) {
    span?.recordException(err instanceof Error ? err : String(err))
    span?.setStatus({ code: o.SpanStatusCode.ERROR })
    span?.end()
    throw err
  }
  if (span?.isRecording() === true) {
    span.setAttribute('entraguard.allowed', decision.allowed)
    if (decision.matched !== undefined) span.setAttribute('entraguard.role', decision.matched.role)
    if (!decision.allowed) span.setStatus({ code: o.SpanStatusCode.ERROR, message: 'forbidden' })
  }
  span?.end()
  countDecision(decision, 'policy')
  return decision
}

/**
 * Counts a scope / app-role decision (`check()`) in `entraguard.decisions`; such decisions get no span.
 *
 * @example
 * countRequirementDecision(check(principal, { roles: ['Stocks.Read'] }))
 */
export function countRequirementDecision(decision: Decision): void {
  countDecision(decision, 'requirement')
}

function countDecision(decision: Decision, check: 'policy' | 'requirement'): void {
  const o = registered()
  if (o === null) return
  metricsOf(o)?.decisions.add(1, { 'entraguard.allowed': decision.allowed, 'entraguard.check': check })
}

/** The key set a trust source holds, as the key-set gauges report it. */
export interface KeySetGauge {
  /** Records a successful fetch of the key set at `url` holding `keyCount` usable keys. */
  fetched(url: string, keyCount: number): void
}

interface KeySetState extends KeySetGauge {
  url: string | undefined
  keyCount: number
  /** Seconds since the last successful fetch. */
  age(): number
}

// Weak: a validator that is dropped drops out of the gauges.
const keySets = new Set<WeakRef<KeySetState>>()

/**
 * The key set of one trust source for `entraguard.keys.count` and `entraguard.keys.age`, reported while the
 * returned record is alive and after its first `fetched()`.
 *
 * @example
 * const gauge = trackKeySet(Date.now)
 * gauge.fetched('https://login.microsoftonline.com/common/discovery/v2.0/keys', 4)
 */
export function trackKeySet(now: () => number): KeySetGauge {
  let fetchedAt = 0
  const state: KeySetState = {
    url: undefined,
    keyCount: 0,
    fetched(url, keyCount) {
      state.url = url
      state.keyCount = keyCount
      fetchedAt = now()
    },
    age: () => (now() - fetchedAt) / 1000,
  }
  keySets.add(new WeakRef(state))
  return state
}

function observeKeySets(meter: OTel.Meter, o: typeof OTel): void {
  const count = meter.createObservableGauge('entraguard.keys.count', {
    description: 'Usable signing keys in the key set last fetched',
    valueType: o.ValueType.INT,
  })
  const age = meter.createObservableGauge('entraguard.keys.age', {
    description: 'Time since the key set was last fetched successfully',
    unit: 's',
  })
  meter.addBatchObservableCallback(
    (result) => {
      for (const ref of keySets) {
        const state = ref.deref()
        if (state === undefined) {
          keySets.delete(ref)
          continue
        }
        if (state.url === undefined) continue
        const attributes = { 'url.full': state.url }
        result.observe(count, state.keyCount, attributes)
        result.observe(age, state.age(), attributes)
      }
    },
    [count, age],
  )
}
