import { type Emulator, startEmulator } from '@entraguard/emulator'

export const API_CLIENT_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
export const API_URI = 'api://stock-api'
export const READER_VM = '2f1a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70'
export const TRADER_VM = '3a2b8d4f-1c2e-4f9b-8b66-3a4d5e6f7a81'
export const IDLE_VM = '4b3c9e5a-2d3f-4a0c-9c77-4b5e6f7a8b92'
export const TRADER_OID = 'aaaaaaaa-0000-4000-8000-000000000001'

/** The stock-tracking scenario: one API, a reader VM, a trader VM, a VM with no role, a user. */
export function startScenarioEmulator(): Promise<Emulator> {
  return startEmulator({
    tenants: [{ id: '72f988bf-86f1-41af-91ab-2d7cd011db47', domain: 'contoso.onmicrosoft.com' }],
    apps: [
      {
        name: 'stock-api',
        clientId: API_CLIENT_ID,
        appIdUri: API_URI,
        appRoles: ['Stocks.Read', 'Stocks.Write'],
        scopes: ['Stocks.Read'],
      },
    ],
    identities: [
      { name: 'reader-vm', clientId: READER_VM, appRoleAssignments: [{ app: API_URI, role: 'Stocks.Read' }] },
      {
        name: 'trader-vm',
        clientId: TRADER_VM,
        objectId: TRADER_OID,
        appRoleAssignments: [
          { app: API_URI, role: 'Stocks.Read' },
          { app: API_URI, role: 'Stocks.Write' },
        ],
      },
      { name: 'idle-vm', clientId: IDLE_VM },
    ],
    users: [{ name: 'Ada Lovelace', username: 'ada@contoso.onmicrosoft.com' }],
  })
}

/** The RBAC policy of the scenario. */
export const scenarioPolicy = {
  roles: {
    'Stock Reader': { actions: ['stocks/read'] },
    'Stock Trader': { actions: ['stocks/*'], notActions: ['stocks/delete'] },
    'Portfolio Owner': { actions: ['stocks/*'] },
  },
  assignments: [
    { role: 'Stock Reader', appRole: 'Stocks.Read' },
    { role: 'Stock Trader', appRole: 'Stocks.Write' },
    { role: 'Portfolio Owner', objectId: TRADER_OID, scope: '/portfolios/contoso' },
  ],
}
