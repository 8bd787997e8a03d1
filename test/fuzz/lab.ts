import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { API_CLIENT_ID, API_URI, READER_VM } from '../support/scenario.js'

/**
 * A token lab: a tiny Entra-shaped issuer on 127.0.0.1:0 whose private key the tests hold, so they can sign
 * what no real issuer would (duplicate names, invalid UTF-8, PS256 with the real key, raw numbers such as
 * 1e309). The emulator signs only well-formed tokens; fuzzing and the attack corpus need both.
 */
export interface TokenLab {
  authority: string
  tenantId: string
  kid: string
  /** The published public key (JWK) and the private key, for key-confusion attacks. */
  publicJwk: { kty: 'RSA'; n: string; e: string; kid: string }
  publicKey: KeyObject
  privateKey: KeyObject
  /** Paths requested so far. */
  requests: string[]
  /** Valid claims of a managed identity holding Stocks.Read, v1 (aud API_URI) or v2 (aud API_CLIENT_ID). */
  claims(version?: 1 | 2, extra?: Record<string, unknown>): Record<string, unknown>
  /** The JSON text of a valid header, with extra members (`undefined` leaves one out). */
  headerJson(extra?: Record<string, unknown>): string
  /** Signs header and payload objects with RS256 (whatever the header says). */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): string
  /** Signs header and payload given as exact text or bytes with RS256, or with `algorithm` (node:crypto). */
  signBytes(
    header: string | Buffer,
    payload: string | Buffer,
    algorithm?: { hash: string; padding?: number; saltLength?: number },
  ): string
  close(): Promise<void>
}

const b64 = (v: string | Buffer) => Buffer.from(v).toString('base64url')
const v1Issuer = (tid: string) => `https://sts.windows.net/${tid}/`
const v2Issuer = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`

/** Starts a token lab for one tenant (default the scenario's). */
export async function startTokenLab(tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47'): Promise<TokenLab> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  const kid = createHash('sha1').update(n).digest('base64url')
  const publicJwk = { kty: 'RSA' as const, n, e, kid }
  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1')
    requests.push(url.pathname)
    const m = /^\/([^/]+)\/(v2\.0\/)?(\.well-known\/openid-configuration|discovery\/(v2\.0\/)?keys)$/.exec(
      url.pathname,
    )
    const segment = m?.[1]
    const multi = segment === 'common' || segment === 'organizations'
    if (m === null || (!multi && segment !== tenantId)) {
      res.writeHead(404).end()
      return
    }
    const tid = multi ? '{tenantid}' : tenantId
    const v2 = m[2] !== undefined || m[4] !== undefined
    const body = m[3]?.startsWith('.well-known')
      ? {
          issuer: v2 ? v2Issuer(tid) : v1Issuer(tid),
          jwks_uri: `${authority}/${segment}/discovery/${v2 ? 'v2.0/' : ''}keys`,
        }
      : { keys: [{ ...publicJwk, use: 'sig', ...(v2 ? { issuer: v2Issuer('{tenantid}') } : {}) }] }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  function signBytes(
    header: string | Buffer,
    payload: string | Buffer,
    algorithm: { hash: string; padding?: number; saltLength?: number } = { hash: 'sha256' },
  ): string {
    const input = `${b64(header)}.${b64(payload)}`
    const { hash, ...options } = algorithm
    return `${input}.${sign(hash, Buffer.from(input), { key: privateKey, ...options }).toString('base64url')}`
  }
  const headerJson = (extra: Record<string, unknown> = {}) =>
    JSON.stringify({ typ: 'JWT', alg: 'RS256', kid, ...extra })

  return {
    authority,
    tenantId,
    kid,
    publicJwk,
    publicKey,
    privateKey,
    requests,
    claims(version = 1, extra = {}) {
      const now = Math.floor(Date.now() / 1000)
      const base =
        version === 1
          ? { aud: API_URI, iss: v1Issuer(tenantId), appid: READER_VM, appidacr: '2', ver: '1.0' }
          : { aud: API_CLIENT_ID, iss: v2Issuer(tenantId), azp: READER_VM, azpacr: '2', ver: '2.0' }
      return {
        ...base,
        iat: now - 60,
        nbf: now - 60,
        exp: now + 3600,
        tid: tenantId,
        oid: '9c1c2ad5-4a8e-4f6b-9d2b-6c1e5a3f7b80',
        sub: '9c1c2ad5-4a8e-4f6b-9d2b-6c1e5a3f7b80',
        idtyp: 'app',
        roles: ['Stocks.Read'],
        ...extra,
      }
    },
    headerJson,
    sign: (claims, header = {}) => signBytes(headerJson(header), JSON.stringify(claims)),
    signBytes,
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
}
