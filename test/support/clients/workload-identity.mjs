// Run in its own process (NODE_EXTRA_CA_CERTS must be set at start; the AZURE_* variables come from the
// environment, as the AKS workload identity webhook injects them). argv: <credential: wi|dac> <scope>
// [discovery]. Prints { token } or { error } as JSON; never logs the token elsewhere.
import { DefaultAzureCredential, WorkloadIdentityCredential } from '@azure/identity'

const [kind, scope, discovery] = process.argv.slice(2)
const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timed out' }))
  process.exit(3)
}, 30_000)
// Instance discovery asks login.microsoftonline.com about any other authority host: an emulator (like
// any private authority) needs it off, as ClientSecretCredential does.
const options = discovery === 'discovery' ? {} : { disableInstanceDiscovery: true }
try {
  const credential =
    kind === 'dac' ? new DefaultAzureCredential(options) : new WorkloadIdentityCredential(options)
  const first = await credential.getToken(scope)
  const second = await credential.getToken(scope)
  process.stdout.write(JSON.stringify({ token: first.token, cachedSame: first.token === second.token }))
} catch (err) {
  process.stdout.write(JSON.stringify({ error: `${err.name}: ${err.message}` }))
} finally {
  clearTimeout(timer)
}
