import type { Principal } from '@entraguard/core'

/** A principal as the validator would produce it, for the pure authorization tests. */
export function principal(overrides: Partial<Principal> = {}): Principal {
  return Object.freeze({
    tokenVersion: 1,
    tenantId: '72f988bf-86f1-41af-91ab-2d7cd011db47',
    objectId: 'b0f31bfd-1a79-4a2c-ba43-fd65c3666fdb',
    subject: 'b0f31bfd-1a79-4a2c-ba43-fd65c3666fdb',
    clientId: '3f2a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70',
    identityType: 'app',
    roles: [],
    scopes: [],
    groups: [],
    expiresAt: new Date(Date.now() + 3600_000),
    claims: {},
    ...overrides,
  }) as Principal
}
