// Runs the stock-quote MCP server against Entra ID (or the emulator). Configuration from the environment:
//   TENANT_ID, API_AUDIENCE (the server app's client ID; comma-separated), AUTHORITY (optional),
//   PORT, RESOURCE (the App ID URI = the MCP endpoint URL; default http://127.0.0.1:<port>/mcp)
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createValidator } from '@entraguard/core'
import { createMcpApp } from './app.js'

const { TENANT_ID, API_AUDIENCE, AUTHORITY, PORT = '3001', RESOURCE } = process.env
if (TENANT_ID === undefined || API_AUDIENCE === undefined) {
  console.error("Set TENANT_ID and API_AUDIENCE (the MCP server app's client ID)")
  process.exit(2)
}
const server = createServer()
server.listen(Number(PORT), '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo
  const validator = createValidator({
    tenant: TENANT_ID,
    audience: API_AUDIENCE.split(','),
    // Entra's MCP guidance: v2 tokens, whose aud is the client ID even though clients ask for the App ID URI.
    tokenVersions: [2],
    ...(AUTHORITY === undefined ? {} : { authority: AUTHORITY }),
    resourceMetadata: {
      resource: RESOURCE ?? `http://127.0.0.1:${port}/mcp`,
      scopes: ['Stocks.Read', 'Stocks.Write'],
      resourceName: 'Stock quotes MCP server',
    },
    onEvent: (event) => console.log(JSON.stringify(event)),
  })
  validator.warm().catch((err: Error) => console.warn(`keys not fetched yet: ${err.message}`))
  server.on('request', createMcpApp(validator))
  console.log(`MCP server listening on http://127.0.0.1:${port}/mcp`)
})
