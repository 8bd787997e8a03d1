import { createHash, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import type { Cluster } from './config.js'
import { TOKEN_EXCHANGE_AUDIENCE } from './config.js'
import { signJwt } from './tokens.js'

/** Options of {@link Emulator.mintServiceAccountToken}: what the kubelet projects into a pod. */
export interface ServiceAccountTokenOptions {
  /** The cluster's name; may be left out when exactly one cluster is configured. */
  cluster?: string
  namespace: string
  serviceAccount: string
  /** Default `api://AzureADTokenExchange`, as the AKS workload identity webhook asks for. */
  audience?: string | string[]
  /** Seconds until exp (default 3,600, the webhook's default); negative for an expired token. */
  expiresIn?: number
  /** Also write the token to this file (mode 0600), as the kubelet does for `AZURE_FEDERATED_TOKEN_FILE`. */
  file?: string
  /** The pod's name, for the `kubernetes.io` claim. */
  pod?: string
}

/** A cluster's service-account token issuer: its key, issuer URL, discovery document and key set. */
export interface ClusterIssuer {
  readonly name: string
  /** `<authority>/clusters/<name>/`: AKS issuers end with a slash too. */
  readonly issuer: string
  readonly kid: string
  readonly publicKey: KeyObject
  discovery(): unknown
  keySet(): unknown
  mint(options: ServiceAccountTokenOptions): string
}

/** Makes the issuer of one cluster, with a fresh RSA key whose kid is Kubernetes's (SHA-256 of the SPKI DER). */
export function createClusterIssuer(cluster: Cluster, authority: string): ClusterIssuer {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const kid = createHash('sha256')
    .update(publicKey.export({ type: 'spki', format: 'der' }))
    .digest('base64url')
  const issuer = `${authority}/clusters/${cluster.name}/`
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  return {
    name: cluster.name,
    issuer,
    kid,
    publicKey,
    discovery: () => ({
      issuer,
      jwks_uri: `${issuer}openid/v1/jwks`,
      response_types_supported: ['id_token'],
      subject_types_supported: ['public'],
      id_token_signing_alg_values_supported: ['RS256'],
    }),
    keySet: () => ({ keys: [{ use: 'sig', kty: 'RSA', kid, alg: 'RS256', n, e }] }),
    mint(o) {
      const now = Math.floor(Date.now() / 1000)
      const lifetime = o.expiresIn ?? 3600
      const iat = lifetime < 0 ? now + lifetime - 3600 : now
      const audience = o.audience ?? TOKEN_EXCHANGE_AUDIENCE
      const token = signJwt(
        {
          aud: Array.isArray(audience) ? audience : [audience],
          exp: now + lifetime,
          iat,
          iss: issuer,
          'kubernetes.io': {
            namespace: o.namespace,
            pod: { name: o.pod ?? `${o.serviceAccount}-0`, uid: randomUUID() },
            serviceaccount: { name: o.serviceAccount, uid: randomUUID() },
          },
          nbf: iat,
          sub: `system:serviceaccount:${o.namespace}:${o.serviceAccount}`,
        },
        { kid, privateKey },
        // Kubernetes service-account tokens carry alg and kid only.
        { typ: undefined },
      )
      if (o.file !== undefined) {
        writeFileSync(o.file, token, { mode: 0o600 })
        chmodSync(o.file, 0o600)
      }
      return token
    },
  }
}
