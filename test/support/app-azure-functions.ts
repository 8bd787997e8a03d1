import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import azf, { type HttpFunctionOptions, type HttpResponseInit } from '@azure/functions'
import { resourceMetadataHandler, withEntraAuth } from '@entraguard/azure-functions'
import { type AuthEvent, createPolicy, type Validator } from '@entraguard/core'
import type { ApiOptions, RunningApi } from './apps.js'
import { scenarioPolicy } from './scenario.js'

// @azure/functions is CommonJS and Node's ESM loader does not see these classes as named exports.
const { HttpRequest, HttpResponse, InvocationContext } = azf

const policy = createPolicy(scenarioPolicy)

/**
 * The scenario's routes as an Azure Functions v4 app, registered with the same options `app.http` takes,
 * served by {@link serveFunctions} (there is no Functions host here).
 */
export async function startFunctionsApi(
  validator: Validator,
  events: AuthEvent[],
  options: ApiOptions = {},
): Promise<RunningApi> {
  const functions = new Map<string, HttpFunctionOptions>()
  const http = (name: string, options: HttpFunctionOptions) => functions.set(name, options)
  const common = { authLevel: 'anonymous' } as const
  // With reportOnly given (true or false), handlers are typed for an `auth` that may be undefined.
  const { reportOnly } = options

  for (const [i, path] of (validator.resourceMetadata?.paths ?? []).entries()) {
    http(`resource-metadata-${i}`, {
      ...common,
      methods: ['GET', 'HEAD', 'OPTIONS', 'POST', 'PUT', 'PATCH', 'DELETE'],
      route: path.slice(1),
      handler: resourceMetadataHandler(validator),
    })
  }
  http('health', {
    ...common,
    methods: ['GET'],
    route: 'health',
    handler: () => ({ jsonBody: { ok: true } }),
  })
  http('stocks-list', {
    ...common,
    methods: ['GET'],
    route: 'stocks',
    handler: withEntraAuth(
      { validator, requirement: { roles: ['Stocks.Read'] }, reportOnly },
      (_request, _context, auth) => ({
        jsonBody: { stocks: ['AAPL'], caller: auth?.clientId },
      }),
    ),
  })
  http('stocks-add', {
    ...common,
    methods: ['POST'],
    route: 'stocks',
    handler: withEntraAuth(
      { validator, requirement: { roles: ['Stocks.Write'] }, reportOnly },
      (_r, _c, auth) => ({ status: 201, jsonBody: { ok: true, caller: auth?.clientId } }),
    ),
  })
  http('me', {
    ...common,
    methods: ['GET'],
    route: 'me',
    handler: withEntraAuth(
      { validator, requirement: { scopes: ['Stocks.Read'] }, reportOnly },
      (_r, _c, auth) => ({ jsonBody: { name: auth?.name } }),
    ),
  })
  http('quotes', {
    ...common,
    methods: ['GET'],
    route: 'quotes',
    handler: withEntraAuth(
      { validator, requirement: { scopes: ['Stocks.Read'], roles: ['Stocks.Read'] }, reportOnly },
      () => ({ jsonBody: { quotes: [] } }),
    ),
  })
  http('portfolio-stock-delete', {
    ...common,
    methods: ['DELETE'],
    route: 'portfolios/{name}/stocks/{symbol}',
    handler: withEntraAuth(
      {
        validator,
        permission: {
          policy,
          action: 'stocks/delete',
          resource: (request) => `/portfolios/${request.params.name}/${request.params.symbol}`,
        },
        reportOnly,
      },
      () => ({ status: 204 }),
    ),
  })
  http('whoami', {
    ...common,
    methods: ['GET'],
    route: 'whoami',
    handler: withEntraAuth({ validator, reportOnly }, (_r, _c, auth) => ({
      jsonBody: { objectId: auth?.objectId, caller: auth?.clientId },
    })),
  })
  return { ...(await serveFunctions(functions)), events }
}

/**
 * A stand-in for the Functions host, kept small: matches the method and the route template (no
 * `routePrefix`: `/stocks`, not `/api/stocks`), builds the library's own `HttpRequest` (repeated headers
 * joined by Fetch `Headers`, as the host joins them) and `InvocationContext` (with the registered trigger in
 * `options.trigger`, as the v4 library builds it), calls the handler, and writes what it returns through the
 * library's `HttpResponse`. A throw is a failed invocation: 500 with no body.
 */
export async function serveFunctions(
  functions: Map<string, HttpFunctionOptions>,
): Promise<Omit<RunningApi, 'events'>> {
  const server = createServer((req, res) => {
    invoke(functions, req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500)
      res.end()
    })
  })
  server.listen(0, '127.0.0.1')
  await new Promise<void>((resolve) => server.once('listening', () => resolve()))
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return { base, close: () => new Promise<void>((resolve) => server.close(() => resolve())) }
}

async function invoke(
  functions: Map<string, HttpFunctionOptions>,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://127.0.0.1')
  const method = (req.method ?? 'GET').toUpperCase()
  const found = [...functions].find(
    ([name, f]) =>
      (f.methods ?? ['GET', 'POST']).includes(method as never) && match(f.route ?? name, url.pathname),
  )
  if (found === undefined) {
    res.writeHead(404).end()
    return
  }
  const [name, options] = found
  const headers = new Headers()
  for (let i = 0; i < req.rawHeaders.length; i += 2)
    headers.append(req.rawHeaders[i] ?? '', req.rawHeaders[i + 1] ?? '')
  const chunks: Buffer[] = []
  for await (const chunk of req) chunks.push(chunk as Buffer)
  const request = new HttpRequest({
    method,
    url: url.href,
    headers: Object.fromEntries(headers),
    params: match(options.route ?? name, url.pathname) ?? {},
    ...(chunks.length > 0 ? { body: { bytes: Buffer.concat(chunks) } } : {}),
  })
  // What app.http registers as the trigger binding, and the library hands back in context.options.trigger.
  const { handler, return: _r, extraInputs: _i, extraOutputs: _o, trigger, ...http } = options
  const context = new InvocationContext({
    invocationId: randomUUID(),
    functionName: name,
    options: { trigger: trigger ?? { ...http, type: 'httpTrigger', name: 'httpTrigger' } },
  })
  const result = (await handler(request, context)) as HttpResponseInit | undefined
  const response = result instanceof HttpResponse ? result : new HttpResponse(result ?? {})
  const body = Buffer.from(await response.arrayBuffer())
  res.writeHead(response.status, [...response.headers].flat())
  res.end(body)
}

/**
 * Matches an Azure Functions route template (`portfolios/{name}/stocks/{symbol}`) against a path and returns
 * the route values, percent-decoded (as `func start` does; a deployed host decodes `%2F` before routing, so a
 * value holding one never matches there).
 */
function match(template: string, pathname: string): Record<string, string> | undefined {
  const want = template.replace(/^\/+|\/+$/g, '').split('/')
  const got = pathname.replace(/^\/+|\/+$/g, '').split('/')
  if (want.length !== got.length) return undefined
  const params: Record<string, string> = {}
  for (const [i, part] of want.entries()) {
    const value = got[i] as string
    const param = /^\{(\w+)\}$/.exec(part)
    if (param) params[param[1] as string] = decoded(value)
    else if (part.toLowerCase() !== value.toLowerCase()) return undefined
  }
  return params
}

function decoded(value: string): string {
  try {
    return decodeURIComponent(value)
  } catch {
    return value
  }
}
