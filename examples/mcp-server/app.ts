import type { ServerResponse } from 'node:http'
import { createPolicy, type Validator } from '@entraguard/core'
import {
  getPrincipal,
  type McpRequest,
  requireMcpAuth,
  requireToolPermission,
  resourceMetadataHandler,
} from '@entraguard/mcp'
import { Server } from '@modelcontextprotocol/sdk/server/index.js'
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js'
import {
  CallToolRequestSchema,
  type CallToolResult,
  ListToolsRequestSchema,
  McpError,
} from '@modelcontextprotocol/sdk/types.js'
import express, { type Express } from 'express'
import { quoteOf } from './quotes.js'

// Which portfolios a trading agent may trade in: decided inside the tool, on its arguments.
const policy = createPolicy({
  roles: { 'Agent Trader': { actions: ['stocks/trade'] } },
  assignments: [{ role: 'Agent Trader', appRole: 'Stocks.Write', scope: '/portfolios/agents' }],
})

const tools = [
  {
    name: 'get_quote',
    description: 'The last price of a stock',
    inputSchema: {
      type: 'object' as const,
      properties: { symbol: { type: 'string', description: 'Ticker, e.g. MSFT' } },
      required: ['symbol'],
    },
  },
  {
    name: 'trade',
    description: 'Buy or sell a stock for a portfolio',
    inputSchema: {
      type: 'object' as const,
      properties: {
        symbol: { type: 'string' },
        quantity: { type: 'integer', minimum: 1 },
        side: { type: 'string', enum: ['buy', 'sell'] },
        portfolio: { type: 'string' },
      },
      required: ['symbol', 'quantity', 'side', 'portfolio'],
    },
  },
]

function createMcpServer(): Server {
  const server = new Server({ name: 'stock-quotes', version: '1.0.0' }, { capabilities: { tools: {} } })
  server.setRequestHandler(ListToolsRequestSchema, async () => ({ tools }))
  server.setRequestHandler(CallToolRequestSchema, async (request, extra): Promise<CallToolResult> => {
    const { name, arguments: args = {} } = request.params
    if (name !== 'get_quote' && name !== 'trade') throw new McpError(-32602, `Unknown tool: ${name}`)
    const quote = quoteOf(String(args.symbol))
    if (quote === undefined) return { isError: true, content: [{ type: 'text', text: 'Unknown symbol' }] }
    if (name === 'get_quote') {
      return { content: [{ type: 'text', text: JSON.stringify(quote) }], structuredContent: { ...quote } }
    }
    // requireMcpAuth() let only Stocks.Write holders get here; the portfolio is decided on the arguments.
    const portfolio = String(args.portfolio)
    requireToolPermission(extra, policy, 'stocks/trade', `/portfolios/${portfolio}`)
    const by = getPrincipal(extra.authInfo).clientId
    const order = { ...quote, portfolio, side: args.side, quantity: args.quantity, by }
    return { content: [{ type: 'text', text: JSON.stringify(order) }], structuredContent: order }
  })
  return server
}

// Stateless Streamable HTTP: a server and transport per request, every request authenticated on its own.
async function handleMcp(req: McpRequest, res: ServerResponse): Promise<void> {
  const server = createMcpServer()
  const transport = new StreamableHTTPServerTransport()
  res.on('close', () => {
    void transport.close()
    void server.close()
  })
  await server.connect(transport)
  await transport.handleRequest(req, res, req.body)
}

/**
 * A stock-quote MCP server protected by Entra ID: `get_quote` for app role or scope Stocks.Read, `trade`
 * for Stocks.Write (and, inside the tool, the RBAC policy on the portfolio).
 */
export function createMcpApp(validator: Validator): Express {
  const app = express()
  app.use(resourceMetadataHandler(validator))
  app.post(
    '/mcp',
    express.json({ limit: '64kb' }),
    requireMcpAuth({
      validator,
      tools: {
        get_quote: { scopes: ['Stocks.Read'], roles: ['Stocks.Read'] },
        trade: { scopes: ['Stocks.Write'], roles: ['Stocks.Write'] },
      },
    }),
    handleMcp,
  )
  // Stateless: no SSE stream to open and no session to end.
  app.all('/mcp', (_req, res) => {
    res
      .status(405)
      .set('Allow', 'POST')
      .json({
        jsonrpc: '2.0',
        error: { code: -32000, message: 'Method not allowed.' },
        id: null,
      })
  })
  return app
}
