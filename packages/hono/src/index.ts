export { AuthError, isAuthError, type Principal } from '@entraguard/core'
export {
  type EntraAuthEnv,
  type EntraAuthOptions,
  entraAuth,
  type OptionalEntraAuthEnv,
} from './entra-auth.js'
export { reportOnly, requireAuth, requirePermission, requireRoles, requireScopes } from './guards.js'
export { resourceMetadataHandler } from './resource-metadata.js'
