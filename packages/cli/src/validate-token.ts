import {
  type AuthErrorCode,
  type Cloud,
  check,
  createValidator,
  type Decision,
  isAuthError,
  type Principal,
  type Requirement,
} from '@entraguard/core'
import { type CheckId, failingCheck, VALIDATION_CHECKS } from './checks.js'
import { troubleshootingAnchor, troubleshootingFix } from './troubleshooting.js'
import { validatorOptions } from './validator-options.js'

/** What {@link validateToken} checks the token against: the API's validator options and a requirement. */
export interface ValidateOptions {
  tenant: string
  audience: string | readonly string[]
  /** Base URL instead of the cloud's (the emulator, a proxy). */
  authority?: string
  cloud?: Cloud
  allowedTenants?: readonly string[] | 'any'
  /** What the route needs: `check(principal, requirement)` after validation. */
  requirement?: Requirement
  /** Epoch milliseconds, for tests. */
  now?: () => number
  fetch?: typeof fetch
}

/** One row of the explanation. */
export interface CheckResult {
  readonly id: CheckId
  readonly title: string
  readonly status: 'pass' | 'fail' | 'not_reached' | 'skipped'
}

/** The first failure, with what the operator's log would say and the fix. */
export interface ValidationFailure {
  readonly check: CheckId
  readonly code: AuthErrorCode
  readonly status: number
  /** The AuthError's `detail`, exactly what the middleware logs. */
  readonly detail: string
  /** The client-facing `error_description`. */
  readonly description: string
  readonly fix: string | undefined
  /** `docs/troubleshooting.md#<code>` */
  readonly docs: string
}

/** The outcome of {@link validateToken}. */
export interface ValidationReport {
  readonly valid: boolean
  readonly checks: readonly CheckResult[]
  readonly failure?: ValidationFailure
  readonly principal?: Principal
  readonly decision?: Decision
}

function report(failed: CheckId | undefined, requirement: boolean): CheckResult[] {
  const at = failed === undefined ? -1 : VALIDATION_CHECKS.findIndex((c) => c.id === failed)
  return VALIDATION_CHECKS.map((c, i) => ({
    id: c.id,
    title: c.title,
    status:
      c.id === 'requirement' && !requirement && failed !== 'requirement'
        ? 'skipped'
        : at === -1 || i < at
          ? 'pass'
          : i === at
            ? 'fail'
            : 'not_reached',
  }))
}

/**
 * Runs core's real validator on a token (a fresh one: no cache, fetching the authority's metadata and keys),
 * then `check()` with the requirement, and explains each check in order: pass, fail or not reached, with
 * the AuthError's `detail` and the fix of the first failure. Options that core refuses throw its
 * ConfigurationError.
 *
 * @example
 * const r = await validateToken(token, { tenant, audience: 'api://stock-api', requirement: { roles: ['Stocks.Read'] } })
 * if (!r.valid) console.log(r.failure?.detail)
 */
export async function validateToken(token: string, options: ValidateOptions): Promise<ValidationReport> {
  let fetched = false
  const baseFetch = options.fetch ?? globalThis.fetch
  const validator = createValidator({
    ...validatorOptions(options),
    // The only way to tell the offline checks from the online ones: the first fetch means they passed.
    fetch: (input, init) => {
      fetched = true
      return baseFetch(input, init)
    },
  })
  const requirement = options.requirement
  const hasRequirement =
    requirement !== undefined &&
    ((requirement.roles?.length ?? 0) > 0 || (requirement.scopes?.length ?? 0) > 0)
  try {
    const principal = await validator.validate(token)
    const decision = check(principal, requirement ?? {})
    if (decision.allowed || decision.error === undefined) {
      return { valid: true, checks: report(undefined, hasRequirement), principal, decision }
    }
    return {
      valid: false,
      checks: report('requirement', hasRequirement),
      failure: failure('requirement', decision.error.code, decision.error),
      principal,
      decision,
    }
  } catch (err) {
    if (!isAuthError(err)) throw err
    const at = failingCheck(err.code, err.detail, fetched)
    return { valid: false, checks: report(at.id, hasRequirement), failure: failure(at.id, err.code, err) }
  } finally {
    validator.close()
  }
}

function failure(
  id: CheckId,
  code: AuthErrorCode,
  err: { status: number; detail: string; description: string },
): ValidationFailure {
  return {
    check: id,
    code,
    status: err.status,
    detail: err.detail,
    description: err.description,
    fix: troubleshootingFix(code),
    docs: troubleshootingAnchor(code),
  }
}
