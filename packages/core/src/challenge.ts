/** The parts of a `WWW-Authenticate: Bearer` challenge (RFC 6750 §3). */
export interface ChallengeParams {
  realm?: string | undefined
  error?: string | undefined
  description?: string | undefined
  scope?: string | undefined
  /** RFC 9728 §5.1: where the protected-resource metadata document lives. */
  resourceMetadata?: string | undefined
}

// RFC 7230 quoted-string: escape backslash and double quote; drop characters a header cannot carry.
function quote(value: string): string {
  const safe = value.replace(/[\u0000-\u001f\u007f-\uffff]/g, '').replace(/[\\"]/g, (c) => `\\${c}`)
  return `"${safe}"`
}

/**
 * Builds the value of a `WWW-Authenticate` header for the Bearer scheme.
 *
 * @example
 * buildChallenge({ error: 'invalid_token', description: 'The token is expired' })
 * // 'Bearer error="invalid_token", error_description="The token is expired"'
 */
export function buildChallenge(params: ChallengeParams = {}): string {
  const parts: string[] = []
  if (params.realm !== undefined) parts.push(`realm=${quote(params.realm)}`)
  if (params.error !== undefined) parts.push(`error=${quote(params.error)}`)
  if (params.description !== undefined) parts.push(`error_description=${quote(params.description)}`)
  if (params.scope !== undefined) parts.push(`scope=${quote(params.scope)}`)
  if (params.resourceMetadata !== undefined) parts.push(`resource_metadata=${quote(params.resourceMetadata)}`)
  return parts.length === 0 ? 'Bearer' : `Bearer ${parts.join(', ')}`
}
