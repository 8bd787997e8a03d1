import type { InvocationContext } from '@azure/functions'

/**
 * The route template of the invoked function, as the app registered it (`portfolios/{name}/stocks/{symbol}`,
 * relative to the host's `routePrefix`), or the function name, which the host routes on when no `route` is
 * given. The v4 library keeps the registered trigger options in `context.options.trigger`.
 */
export function routeOf(context: InvocationContext): string | undefined {
  const trigger = context.options.trigger as { type?: unknown; route?: unknown }
  if (typeof trigger.route === 'string' && trigger.route !== '') return trigger.route
  return trigger.type === 'httpTrigger' ? context.functionName : undefined
}
