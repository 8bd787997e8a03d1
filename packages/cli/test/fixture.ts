import { type Emulator, startEmulator } from '@entraguard/emulator'

/** The API every test validates for: v1 tokens carry its App ID URI, v2 tokens its client ID. */
export const API = { clientId: '6e74172b-be56-4843-9ff4-e66a39bb12e3', appIdUri: 'api://stock-api' }
export const VM_RESOURCE_ID =
  '/subscriptions/662a4fee-a3ba-49b3-9caf-8c20ed04503f/resourcegroups/trading/providers/Microsoft.Compute/virtualMachines/night-vm'

/** An emulator with the stock API and a VM's system-assigned managed identity. */
export function startFixture(): Promise<Emulator> {
  return startEmulator({
    apps: [{ ...API, appRoles: ['Stocks.Read', 'Stocks.Write'] }],
    identities: [{ name: 'night-vm', kind: 'system', resourceId: VM_RESOURCE_ID }],
  })
}

/** The validator options of the stock API against the emulator, as CLI arguments. */
export function validationArgs(emu: Emulator): string[] {
  return [
    '--tenant',
    emu.tenantId,
    '--audience',
    `${API.appIdUri},${API.clientId}`,
    '--authority',
    emu.authority,
  ]
}
