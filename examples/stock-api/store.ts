/** The in-memory data of the stock-tracking example. */
export interface Stock {
  symbol: string
  name: string
  price: number
}

export function createStore() {
  const stocks = new Map<string, Stock>([
    ['AAPL', { symbol: 'AAPL', name: 'Apple', price: 231.5 }],
    ['MSFT', { symbol: 'MSFT', name: 'Microsoft', price: 497.1 }],
  ])
  const portfolios = new Map<string, { symbol: string; quantity: number }[]>([
    ['contoso', [{ symbol: 'MSFT', quantity: 100 }]],
    ['fabrikam', [{ symbol: 'AAPL', quantity: 40 }]],
  ])
  return { stocks, portfolios }
}

/** Reads a stock from a request body, or explains what is wrong. */
export function parseStock(body: unknown): Stock | string {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>
  if (typeof b.symbol !== 'string' || !/^[A-Z.]{1,10}$/.test(b.symbol))
    return 'symbol must be 1-10 capital letters'
  if (typeof b.name !== 'string' || b.name.length === 0 || b.name.length > 100)
    return 'name must be a non-empty string'
  if (typeof b.price !== 'number' || !Number.isFinite(b.price) || b.price <= 0)
    return 'price must be a positive number'
  return { symbol: b.symbol, name: b.name, price: b.price }
}
