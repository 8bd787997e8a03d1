// Run in its own process (NODE_EXTRA_CA_CERTS must be set at start). argv: <authorityHost> <tenant> <clientId> <secret> <scope>
import { ClientSecretCredential } from '@azure/identity'

const [authorityHost, tenant, clientId, secret, scope] = process.argv.slice(2)
const timer = setTimeout(() => process.exit(3), 30_000)
try {
  const credential = new ClientSecretCredential(tenant, clientId, secret, {
    authorityHost,
    disableInstanceDiscovery: true,
  })
  const { token } = await credential.getToken(scope)
  process.stdout.write(JSON.stringify({ token }))
} catch (err) {
  process.stdout.write(JSON.stringify({ error: `${err.name}: ${err.message}` }))
} finally {
  clearTimeout(timer)
}
