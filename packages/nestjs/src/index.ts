export { AuthError, type Policy, type Principal, type Validator } from '@entraguard/core'
export {
  Auth,
  type AuthDecorator,
  Permission,
  Public,
  ReportOnly,
  RequireAuth,
  Roles,
  Scopes,
} from './decorators.js'
export { type AuthErrorRenderer, EntraAuthExceptionFilter, renderAuthError } from './exception-filter.js'
export { EntraAuthGuard } from './guard.js'
export {
  type EntraAuthGuardOptions,
  EntraAuthModule,
  type EntraAuthModuleAsyncOptions,
  type EntraAuthModuleOptions,
} from './module.js'
export { ENTRA_AUTH_OPTIONS, ENTRA_POLICY, ENTRA_VALIDATOR } from './tokens.js'
