/**
 * The names of the tools a JSON-RPC body calls: one per `tools/call` request, in order, for a single message
 * or a batch (an array). Anything that is not a well-formed `tools/call` is left to the SDK, which refuses it.
 *
 * @example
 * calledTools([{ jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'trade' } }]) // ['trade']
 */
export function calledTools(body: unknown): string[] {
  const messages: unknown[] = Array.isArray(body) ? body : [body]
  const names: string[] = []
  for (const message of messages) {
    if (typeof message !== 'object' || message === null) continue
    const { method, params } = message as { method?: unknown; params?: unknown }
    if (method !== 'tools/call' || typeof params !== 'object' || params === null) continue
    const name = (params as { name?: unknown }).name
    if (typeof name === 'string') names.push(name)
  }
  return names
}
