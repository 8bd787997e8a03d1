/** The in-memory market of the MCP example. */
export interface Quote {
  symbol: string
  price: number
}

const prices = new Map<string, number>([
  ['MSFT', 512.3],
  ['AAPL', 231.1],
  ['NVDA', 182.4],
])

export function quoteOf(symbol: string): Quote | undefined {
  const price = prices.get(symbol.toUpperCase())
  return price === undefined ? undefined : { symbol: symbol.toUpperCase(), price }
}
