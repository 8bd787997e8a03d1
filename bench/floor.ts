// The two reference contenders of the bench (issue 9), shared by server.ts, fastify-server.ts and micro.ts:
// - decodeOnly: base64url + JSON.parse of header and payload, no checks at all (what parsing alone costs);
// - bareVerify: the floor of any correct validator, a synchronous node:crypto RS256 verify with a KeyObject
//   imported once, then exp/iss/aud. No strictness, no Entra rules, no cache, no events.
import { createPublicKey, type KeyObject, verify } from 'node:crypto'

/** `Bearer <token>` → token, or undefined. */
export function bearerOf(header: string | undefined): string | undefined {
  return header !== undefined && header.length > 7 && /^bearer $/i.test(header.slice(0, 7))
    ? header.slice(7)
    : undefined
}

/** Payload of a token decoded without any check, or undefined when it is not base64url JSON. */
export function decodeOnly(token: string | undefined): Record<string, unknown> | undefined {
  if (token === undefined) return undefined
  const first = token.indexOf('.')
  const second = token.indexOf('.', first + 1)
  if (first < 0 || second < 0) return undefined
  try {
    JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString())
    return JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString())
  } catch {
    return undefined
  }
}

/** What the bare verifier accepts. */
export interface FloorConfig {
  issuer: string
  audience: string
  jwksUri: string
}

/** The bare validator: fetches the key set once, then verifies synchronously. */
export async function bareVerifier(
  c: FloorConfig,
): Promise<(token: string | undefined) => Record<string, unknown> | undefined> {
  const jwks = (await (await fetch(c.jwksUri)).json()) as { keys: { kid: string }[] }
  const keys = new Map<string, KeyObject>()
  for (const jwk of jwks.keys) keys.set(jwk.kid, createPublicKey({ key: jwk as never, format: 'jwk' }))
  return (token) => {
    if (token === undefined) return undefined
    const first = token.indexOf('.')
    const second = token.indexOf('.', first + 1)
    if (first < 0 || second < 0) return undefined
    try {
      const header = JSON.parse(Buffer.from(token.slice(0, first), 'base64url').toString())
      const key = header.alg === 'RS256' ? keys.get(header.kid) : undefined
      if (key === undefined) return undefined
      const signed = Buffer.from(token.slice(0, second))
      if (!verify('RSA-SHA256', signed, key, Buffer.from(token.slice(second + 1), 'base64url')))
        return undefined
      const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), 'base64url').toString())
      const ok =
        typeof payload.exp === 'number' &&
        payload.exp > Date.now() / 1000 &&
        payload.iss === c.issuer &&
        payload.aud === c.audience
      return ok ? payload : undefined
    } catch {
      return undefined
    }
  }
}

/** The route's requirement, the same for every contender: app role Stocks.Read. */
export function hasRole(payload: object | undefined): boolean {
  return (
    payload !== undefined &&
    'roles' in payload &&
    Array.isArray(payload.roles) &&
    (payload.roles as unknown[]).includes('Stocks.Read')
  )
}
