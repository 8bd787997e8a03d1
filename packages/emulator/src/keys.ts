import { createHash, generateKeyPairSync, type KeyObject } from 'node:crypto'
import forge from 'node-forge'

/** An RSA signing key with the self-signed certificate Entra-style key sets publish in x5c. */
export interface SigningKey {
  kid: string
  privateKey: KeyObject
  /** The JWK as published: kty, use, kid, x5t, n, e, x5c (and issuer for v2 sets). */
  jwk: { kty: 'RSA'; use: 'sig'; kid: string; x5t: string; n: string; e: string; x5c: string[] }
  /** When the key stops being published (after a rotation), epoch ms. */
  retireAt: number
}

function selfSigned(
  publicKey: KeyObject,
  privateKey: KeyObject,
  commonName: string,
  altNames: unknown[] = [],
): string {
  const cert = forge.pki.createCertificate()
  cert.publicKey = forge.pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }) as string)
  cert.serialNumber = `01${createHash('sha1').update(String(Math.random())).digest('hex').slice(0, 14)}`
  const now = Date.now()
  cert.validity.notBefore = new Date(now - 60_000)
  cert.validity.notAfter = new Date(now + 365 * 24 * 3600_000)
  const attrs = [{ name: 'commonName', value: commonName }]
  cert.setSubject(attrs)
  cert.setIssuer(attrs)
  const extensions: unknown[] = [{ name: 'basicConstraints', cA: altNames.length > 0 }]
  if (altNames.length > 0) extensions.push({ name: 'subjectAltName', altNames })
  cert.setExtensions(extensions as never[])
  cert.sign(
    forge.pki.privateKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }) as string),
    forge.md.sha256.create(),
  )
  return forge.pki.certificateToPem(cert)
}

function derOf(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64')
}

/** Makes a 2048-bit signing key whose kid and x5t are the SHA-1 thumbprint of its certificate, as Entra's. */
export function createSigningKey(): SigningKey {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const der = derOf(selfSigned(publicKey, privateKey, 'accounts.accesscontrol.windows.net'))
  const kid = createHash('sha1').update(der).digest('base64url')
  const { n, e } = publicKey.export({ format: 'jwk' }) as { n: string; e: string }
  return {
    kid,
    privateKey,
    jwk: { kty: 'RSA', use: 'sig', kid, x5t: kid, n, e, x5c: [der.toString('base64')] },
    retireAt: Number.POSITIVE_INFINITY,
  }
}

/** A TLS certificate for 127.0.0.1 and localhost, for `https: true`. */
export function createTlsCertificate(): { cert: string; key: string } {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const cert = selfSigned(publicKey, privateKey, 'entraguard emulator', [
    { type: 2, value: 'localhost' },
    { type: 7, ip: '127.0.0.1' },
  ])
  return { cert, key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string }
}
