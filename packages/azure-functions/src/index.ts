export { AuthError, type Principal } from '@entraguard/core'
export { resourceMetadataHandler } from './resource-metadata.js'
export { toHttpResponseInit } from './response-init.js'
export {
  type AuthenticatedHttpHandler,
  type FunctionPermission,
  type WithEntraAuthOptions,
  withEntraAuth,
} from './with-entra-auth.js'
