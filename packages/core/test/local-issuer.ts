import type { webcrypto } from 'node:crypto'
import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { exportJWK, generateKeyPair, type JWK, SignJWT } from 'jose'

/** A small Entra-shaped issuer on 127.0.0.1:0 for the core tests: real RSA keys, controllable faults. */
export interface LocalIssuer {
  authority: string
  tenantId: string
  /** Every request path seen, in order. */
  requests: string[]
  /** Count of key-set requests. */
  jwksRequests(): number
  /** Replaces the response of matching paths (a status, a body, a hang) or delays it (delayMs alone). */
  fault: Fault | undefined
  sign(claims: Record<string, unknown>, opts?: SignOptions): Promise<string>
  /** v1 or v2 claims of a valid managed-identity token for `aud`. */
  claims(version: 1 | 2, extra?: Record<string, unknown>): Record<string, unknown>
  /** Adds a new signing key and returns its kid; `keyIssuer` overrides the v2 key's own issuer. */
  rotate(keyIssuer?: string): Promise<string>
  /** Signs a payload given as raw JSON text (for values JSON.stringify cannot write, such as 1e309). */
  signRaw(payloadJson: string, kid?: string): Promise<string>
  /** Signs a header and payload given as exact bytes or text (invalid UTF-8, duplicate names, BOMs). */
  signBytes(header: string | Buffer, payload: string | Buffer, kid?: string): Promise<string>
  /** The JSON text of a valid header for the current key (what `signBytes` takes). */
  headerJson(extra?: Record<string, unknown>): string
  /** Removes a key from the published set. */
  unpublish(kid: string): void
  /** Adds extra entries to the published key set (as JSON). */
  extraKeys: unknown[]
  close(): Promise<void>
}

export interface Fault {
  match?: RegExp
  status?: number
  body?: string
  delayMs?: number
  hang?: boolean
}

export interface SignOptions {
  kid?: string
  header?: Record<string, unknown>
  alg?: string
}

interface Key {
  issuer?: string
  kid: string
  privateKey: webcrypto.CryptoKey
  jwk: JWK
}

export const API_CLIENT_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
export const API_APP_ID_URI = 'api://stock-api'
export const MI_CLIENT_ID = '2f1a7c3e-0b1d-4e8a-9a55-2f3c4d5e6f70'
export const MI_OBJECT_ID = 'b0f31bfd-1a79-4a2c-ba43-fd65c3666fdb'
export const OTHER_TENANT = '11111111-2222-4333-8444-555555555555'

async function newKey(): Promise<Key> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { modulusLength: 2048 })
  const jwk = await exportJWK(publicKey)
  const kid = randomUUID().replace(/-/g, '').slice(0, 27)
  return { kid, privateKey, jwk: { kty: 'RSA', use: 'sig', kid, x5t: kid, n: jwk.n, e: jwk.e } as JWK }
}

export async function startLocalIssuer(
  tenantId = '72f988bf-86f1-41af-91ab-2d7cd011db47',
): Promise<LocalIssuer> {
  const keys: Key[] = [await newKey()]
  const requests: string[] = []
  let jwksCount = 0
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x')
    requests.push(url.pathname + url.search)
    const isJwks = url.pathname.includes('/keys')
    if (isJwks) jwksCount++
    const f = issuer.fault
    const send = () => {
      if (
        f !== undefined &&
        (f.status !== undefined || f.body !== undefined || f.hang === true) &&
        (f.match === undefined || f.match.test(url.pathname))
      ) {
        if (f.hang) return
        res.writeHead(f.status ?? 200, { 'content-type': 'application/json' })
        res.end(f.body ?? '')
        return
      }
      const json = route(url)
      if (json === undefined) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(json))
    }
    if (f?.delayMs !== undefined && (f.match === undefined || f.match.test(url.pathname)))
      setTimeout(send, f.delayMs)
    else send()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const authority = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const v1Issuer = (tid: string) => `https://sts.windows.net/${tid}/`
  const v2Issuer = (tid: string) => `https://login.microsoftonline.com/${tid}/v2.0`

  function route(url: URL): unknown {
    const m = /^\/([^/]+)\/(v2\.0\/)?(\.well-known\/openid-configuration|discovery\/(v2\.0\/)?keys)$/.exec(
      url.pathname,
    )
    if (m === null) return undefined
    const segment = m[1] as string
    const multi = segment === 'common' || segment === 'organizations'
    if (!multi && segment !== tenantId && segment !== 'contoso.onmicrosoft.com') return undefined
    const tid = multi ? '{tenantid}' : tenantId
    const v2 = m[2] !== undefined || m[4] !== undefined
    const appid = url.searchParams.get('appid')
    const suffix = appid === null ? '' : `?appid=${appid}`
    if (m[3]?.startsWith('.well-known')) {
      return {
        issuer: v2 ? v2Issuer(tid) : v1Issuer(tid),
        jwks_uri: `${authority}/${segment}/discovery/${v2 ? 'v2.0/' : ''}keys${suffix}`,
        id_token_signing_alg_values_supported: ['RS256'],
      }
    }
    const published = keys.map((k) => (v2 ? { ...k.jwk, issuer: k.issuer ?? v2Issuer('{tenantid}') } : k.jwk))
    return { keys: [...published, ...issuer.extraKeys] }
  }

  const issuer: LocalIssuer = {
    authority,
    tenantId,
    requests,
    jwksRequests: () => jwksCount,
    fault: undefined,
    extraKeys: [],
    async sign(claims, opts = {}) {
      const key = keys.find((k) => k.kid === (opts.kid ?? keys[keys.length - 1]?.kid)) ?? (keys[0] as Key)
      return new SignJWT(claims)
        .setProtectedHeader({ typ: 'JWT', alg: 'RS256', kid: opts.kid ?? key.kid, ...opts.header })
        .sign(key.privateKey)
    },
    claims(version, extra = {}) {
      const now = Math.floor(Date.now() / 1000)
      const base =
        version === 1
          ? {
              aud: API_APP_ID_URI,
              iss: v1Issuer(tenantId),
              appid: MI_CLIENT_ID,
              appidacr: '2',
              ver: '1.0',
              idp: v1Issuer(tenantId),
            }
          : { aud: API_CLIENT_ID, iss: v2Issuer(tenantId), azp: MI_CLIENT_ID, azpacr: '2', ver: '2.0' }
      return {
        ...base,
        iat: now - 60,
        nbf: now - 60,
        exp: now + 3600,
        tid: tenantId,
        oid: MI_OBJECT_ID,
        sub: MI_OBJECT_ID,
        idtyp: 'app',
        roles: ['Stocks.Read'],
        xms_mirid:
          '/subscriptions/0000/resourcegroups/trading/providers/Microsoft.Compute/virtualMachines/reader-vm',
        ...extra,
      }
    },
    async signRaw(payloadJson, kid) {
      const key = keys.find((k) => k.kid === kid) ?? (keys[keys.length - 1] as Key)
      const input = `${Buffer.from(JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: key.kid })).toString('base64url')}.${Buffer.from(payloadJson).toString('base64url')}`
      const sig = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, Buffer.from(input))
      return `${input}.${Buffer.from(sig).toString('base64url')}`
    },
    async signBytes(header, payload, kid) {
      const key = keys.find((k) => k.kid === kid) ?? (keys[keys.length - 1] as Key)
      const input = `${Buffer.from(header).toString('base64url')}.${Buffer.from(payload).toString('base64url')}`
      const sig = await crypto.subtle.sign('RSASSA-PKCS1-v1_5', key.privateKey, Buffer.from(input))
      return `${input}.${Buffer.from(sig).toString('base64url')}`
    },
    headerJson(extra = {}) {
      return JSON.stringify({ typ: 'JWT', alg: 'RS256', kid: (keys[keys.length - 1] as Key).kid, ...extra })
    },
    async rotate(keyIssuer) {
      const key = await newKey()
      if (keyIssuer !== undefined) key.issuer = keyIssuer
      keys.push(key)
      return key.kid
    },
    unpublish(kid) {
      const index = keys.findIndex((k) => k.kid === kid)
      if (index !== -1) keys.splice(index, 1)
    },
    async close() {
      server.closeAllConnections()
      server.close()
      await once(server, 'close')
    },
  }
  return issuer
}
