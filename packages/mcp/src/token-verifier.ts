import { isAuthError, type Validator } from '@entraguard/core'
import {
  InsufficientScopeError,
  InvalidRequestError,
  InvalidTokenError,
  ServerError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js'
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js'
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js'
import { bindValidator, toAuthInfo } from './auth-info.js'

/**
 * The MCP SDK's `OAuthTokenVerifier`, backed by an entraguard validator, for apps that stay on the SDK's own
 * `requireBearerAuth`. Refusals become the SDK's errors: 401 codes `InvalidTokenError`, 403 codes
 * `InsufficientScopeError`, 400 `InvalidRequestError`; an issuer outage `ServerError`, which the SDK answers
 * with 500 and no `Retry-After` (`requireMcpAuth()` answers 503). `AuthInfo.resource` is the validator's
 * `resourceMetadata.resource`, so `expectedResource` can be set to the same value.
 *
 * @example
 * app.post('/mcp', requireBearerAuth({ verifier: mcpTokenVerifier(validator), resourceMetadataUrl }), handler)
 */
export function mcpTokenVerifier(validator: Validator): OAuthTokenVerifier {
  const resource = validator.resourceMetadata?.document.resource as string | undefined
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      try {
        const principal = await validator.validate(token)
        return bindValidator(toAuthInfo(token, principal, resource), validator)
      } catch (err) {
        throw toSdkError(err)
      }
    },
  }
}

function toSdkError(err: unknown): unknown {
  if (!isAuthError(err)) return err
  const sdkError =
    err.status === 401
      ? new InvalidTokenError(err.description)
      : err.status === 403
        ? new InsufficientScopeError(err.description)
        : err.status === 400
          ? new InvalidRequestError(err.description)
          : new ServerError(err.description)
  sdkError.cause = err
  return sdkError
}
