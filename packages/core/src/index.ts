export { type Access, type AuthorizeOptions, authorize, type DecisionSink } from './access.js'
export { isGraphAudience } from './audience.js'
export { type AccessContext, enforce } from './audit.js'
export { type AuthenticateOptions, authenticate } from './authenticate.js'
export { extractBearerToken, MAX_TOKEN_LENGTH } from './bearer.js'
export { buildChallenge, type ChallengeParams } from './challenge.js'
export {
  AUTH_ERROR_CODES,
  AuthError,
  type AuthErrorCode,
  type AuthErrorInit,
  type BearerErrorCode,
  isAuthError,
} from './errors.js'
export type { AuthEvent, AuthEventHandler, AuthEventType } from './events.js'
export { authenticateRequest, toResponse } from './fetch-api.js'
export {
  CLOUD_AUTHORITIES,
  type Cloud,
  ConfigurationError,
  type ResolvedValidatorOptions,
  type ValidateOptions,
  type ValidatorOptions,
} from './options.js'
export {
  createPolicy,
  type DenyAssignment,
  loadPolicy,
  type Policy,
  type PolicyDefinition,
  type RoleAssignment,
} from './policy.js'
export {
  type PolicyReloadEvent,
  type PolicyReloadOutcome,
  type PolicySource,
  type WatchedPolicy,
  type WatchPolicyOptions,
  watchPolicy,
} from './policy-watch.js'
export {
  formatPreflight,
  type PreflightCode,
  type PreflightProblem,
  type PreflightReport,
} from './preflight.js'
export type { IdentityType, Principal } from './principal.js'
export { authorizationOf, type HeaderSource, type RequestShape } from './request-shape.js'
export { check, type Decision, type DecisionMatch, type Requirement } from './requirements.js'
export {
  createResourceMetadata,
  type ResourceMetadata,
  type ResourceMetadataOptions,
} from './resource-metadata.js'
export { createValidator, type Validator } from './validator.js'
export { useValidator, type ValidatorSource } from './validator-source.js'
