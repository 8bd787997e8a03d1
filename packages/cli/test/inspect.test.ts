import { describe, expect, it } from 'vitest'
import { type InspectIO, runInspect } from '../src/index.js'

const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')

async function inspect(argv: string[], stdin: string[] = [], isTTY = false) {
  let out = ''
  let err = ''
  const io: InspectIO = {
    stdin: Object.assign(
      (async function* () {
        yield* stdin
      })(),
      { isTTY },
    ),
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: {},
  }
  return { code: await runInspect(argv, io), out, err }
}

describe('runInspect: usage', () => {
  it.each([
    [['a.b.c', '--tenant', 'contoso.onmicrosoft.com'], 'both --tenant and --audience'],
    [['a.b.c', '--roles', 'Stocks.Read'], 'need --tenant and --audience'],
    [['a.b.c', '--frobnicate'], "Unknown option '--frobnicate'"],
    [['a.b.c', 'd.e.f'], 'Give one token'],
    [['a.b.c', '--tenant', 't', '--audience', 'a', '--cloud', 'mars'], '--cloud is public, usgov or china'],
  ])('%j exits 2: %s', async (argv, message) => {
    const r = await inspect(argv)
    expect(r.code).toBe(2)
    expect(r.err).toContain(message)
    expect(r.err).toContain('Usage:')
  })

  it('exits 2 without a token: nothing on stdin, or a terminal and no argument', async () => {
    expect((await inspect([], [''])).err).toContain('No token given')
    expect((await inspect([], [], true)).code).toBe(2)
  })

  it('exits 2 for options the validator refuses, naming them', async () => {
    const jwt = `${b64({ alg: 'RS256', kid: 'k' })}.${b64({ aud: 'api://x' })}.c2ln`
    const r = await inspect([jwt, '--tenant', 'common', '--audience', 'api://x'])
    expect(r.code).toBe(2)
    expect(r.err).toContain('allowedTenants')
  })

  it('exits 1 for what is not a JWT, saying why', async () => {
    const r = await inspect(['-'], ['not-a-token\n'])
    expect(r.code).toBe(1)
    expect(r.err).toContain('A JWT has three dot-separated parts; this one has 1')
  })

  it('prints the usage for --help with exit 0', async () => {
    const r = await inspect(['--help'])
    expect(r.code).toBe(0)
    expect(r.out).toContain('--explain <code>')
  })
})
