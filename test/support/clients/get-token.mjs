// Run in its own process: @azure/identity fixes its managed-identity source and cache per process.
// argv: <credential: mi|dac> <scope> [clientId]. Prints { token } or { error } as JSON; never logs the token elsewhere.
import { DefaultAzureCredential, ManagedIdentityCredential } from '@azure/identity'

const [kind, scope, clientId] = process.argv.slice(2)
const timer = setTimeout(() => {
  process.stdout.write(JSON.stringify({ error: 'timed out' }))
  process.exit(3)
}, 30_000)
try {
  const credential =
    kind === 'dac'
      ? new DefaultAzureCredential()
      : new ManagedIdentityCredential(clientId ? { clientId } : {})
  const first = await credential.getToken(scope)
  const second = await credential.getToken(scope)
  process.stdout.write(
    JSON.stringify({
      token: first.token,
      cachedSame: first.token === second.token,
      expiresOnTimestamp: first.expiresOnTimestamp,
    }),
  )
} catch (err) {
  process.stdout.write(JSON.stringify({ error: `${err.name}: ${err.message}` }))
} finally {
  clearTimeout(timer)
}
