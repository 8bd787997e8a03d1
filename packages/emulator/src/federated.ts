import { verify } from 'node:crypto'
import type { ClusterIssuer } from './clusters.js'
import type { FederatedCredential } from './config.js'
import { aadError } from './http.js'

/** The client assertion type of workload identity federation (RFC 7523). */
export const JWT_BEARER = 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer'

/** Why Entra refused an assertion: the status and body it sends. */
export interface AssertionRefusal {
  status: number
  body: Record<string, unknown>
}

const DOCS = 'https://docs.microsoft.com/en-us/azure/active-directory/develop/workload-identity-federation'

/** Entra's ISO time with seven fractional digits, as its error texts print them. */
const entraTime = (ms: number) => new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$10000Z')

function decode(part: string | undefined): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(part ?? '', 'base64url').toString('utf8'))
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined
  } catch {
    return undefined
  }
}

/**
 * Checks a federated client assertion the way Entra does for a client with federated credentials: the
 * (issuer, subject, audience) triple must match a credential, the signature must verify with the
 * issuer's published key, and the assertion must be within its lifetime. Returns undefined when it passes.
 */
export function checkAssertion(
  assertion: string,
  credentials: readonly FederatedCredential[],
  clusters: ReadonlyMap<string, ClusterIssuer>,
): AssertionRefusal | undefined {
  const parts = assertion.split('.')
  const header = decode(parts[0])
  const claims = decode(parts[1])
  if (parts.length !== 3 || header === undefined || claims === undefined)
    return { status: 400, body: aadError('invalid_request', 50_027, 'JWT token is invalid or malformed.') }
  const iss = typeof claims.iss === 'string' ? claims.iss : ''
  const sub = typeof claims.sub === 'string' ? claims.sub : ''
  const auds = (Array.isArray(claims.aud) ? claims.aud : [claims.aud]).filter(
    (a): a is string => typeof a === 'string',
  )
  // Entra compares all three exactly (case-sensitive) against each credential of the client.
  const match = credentials.find(
    (c) =>
      clusters.get(c.cluster)?.issuer === iss &&
      c.subject === sub &&
      auds.some((a) => c.audiences.includes(a)),
  )
  if (match === undefined) {
    return {
      status: 401,
      body: aadError(
        'invalid_client',
        70_021,
        `No matching federated identity record found for presented assertion. Assertion Issuer: '${iss}'. Assertion Subject: '${sub}'. Assertion Audience: '${auds.join(',')}'. ${DOCS}`,
      ),
    }
  }
  const cluster = clusters.get(match.cluster) as ClusterIssuer
  if (header.kid !== cluster.kid) {
    return {
      status: 401,
      body: aadError(
        'invalid_client',
        7_000_272,
        `The certificate with identifier ${String(header.kid ?? '')} used to sign the federated credential could not be found in the metadata of identity provider ${iss}. Please validate that your Identity Provider's metadata exposes the key used to sign the incoming token.`,
      ),
    }
  }
  const signed =
    header.alg === 'RS256' &&
    verify(
      'RSA-SHA256',
      Buffer.from(`${parts[0]}.${parts[1]}`),
      cluster.publicKey,
      Buffer.from(parts[2] ?? '', 'base64url'),
    )
  if (!signed) {
    return {
      status: 401,
      body: aadError(
        'invalid_client',
        50_013,
        `Assertion failed signature validation. [Reason - Key was found, but use of the key to verify the signature failed., Thumbprint of key used by client: '${cluster.kid}'].`,
      ),
    }
  }
  const now = Date.now()
  const exp = typeof claims.exp === 'number' ? claims.exp * 1000 : 0
  const nbf = typeof claims.nbf === 'number' ? claims.nbf * 1000 : 0
  if (now >= exp || now < nbf) {
    return {
      status: 401,
      body: aadError(
        'invalid_client',
        700_024,
        `Client assertion is not within its valid time range. Current time: ${entraTime(now)}, assertion valid from ${entraTime(nbf)}, expiry time of assertion ${entraTime(exp)}. Review the documentation at https://docs.microsoft.com/azure/active-directory/develop/active-directory-certificate-credentials .`,
      ),
    }
  }
  return undefined
}
