export { type CheckId, failingCheck, VALIDATION_CHECKS, type ValidationCheck } from './checks.js'
export {
  type Caller,
  type DescribeOptions,
  describeToken,
  type Finding,
  type FindingId,
  NotAJwtError,
  PERSONAL_ACCOUNTS_TENANT,
  type TokenReport,
} from './describe-token.js'
export { EXIT, type InspectIO, runInspect, USAGE } from './inspect.js'
export {
  type PreflightOptions,
  type PreflightResult,
  preflight,
  preflightExitCode,
} from './preflight.js'
export { troubleshootingAnchor, troubleshootingEntry, troubleshootingFix } from './troubleshooting.js'
export {
  type CheckResult,
  type ValidateOptions,
  type ValidationFailure,
  type ValidationReport,
  validateToken,
} from './validate-token.js'
