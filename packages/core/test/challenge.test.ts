import { AUTH_ERROR_CODES, AuthError, buildChallenge } from '@entraguard/core'
import { describe, expect, it } from 'vitest'

describe('buildChallenge', () => {
  it('is a bare Bearer without parameters', () => {
    expect(buildChallenge()).toBe('Bearer')
  })
  it('quotes and escapes values', () => {
    expect(
      buildChallenge({ realm: 'api', error: 'invalid_token', description: 'say "hi" \\ bye', scope: 'a b' }),
    ).toBe(
      'Bearer realm="api", error="invalid_token", error_description="say \\"hi\\" \\\\ bye", scope="a b"',
    )
  })
  it('drops characters a header cannot carry (no header injection)', () => {
    expect(buildChallenge({ description: 'x\r\nSet-Cookie: a=b\u00e9' })).toBe(
      'Bearer error_description="xSet-Cookie: a=b"',
    )
  })
})

describe('AuthError', () => {
  const expected: Record<string, [number, string | undefined]> = {
    missing_token: [401, undefined],
    malformed_request: [400, 'invalid_request'],
    malformed_token: [401, 'invalid_token'],
    unsupported_algorithm: [401, 'invalid_token'],
    invalid_signature: [401, 'invalid_token'],
    unknown_key: [401, 'invalid_token'],
    expired: [401, 'invalid_token'],
    not_yet_valid: [401, 'invalid_token'],
    invalid_issuer: [401, 'invalid_token'],
    tenant_not_allowed: [401, 'invalid_token'],
    invalid_audience: [401, 'invalid_token'],
    client_not_allowed: [401, 'invalid_token'],
    identity_type_not_allowed: [401, 'invalid_token'],
    insufficient_scope: [403, 'insufficient_scope'],
    no_scope_or_role: [403, 'insufficient_scope'],
    forbidden: [403, undefined],
    metadata_unavailable: [503, undefined],
  }
  it('covers exactly the codes of the design table', () => {
    expect([...AUTH_ERROR_CODES].sort()).toEqual(Object.keys(expected).sort())
  })
  it.each(Object.entries(expected))('%s → %s', (code, [status, error]) => {
    const e = new AuthError(code as never, { description: 'd', scope: 'Stocks.Read', retryAfter: 7 })
    expect(e.status).toBe(status)
    expect(e.statusCode).toBe(status)
    expect(e.error).toBe(error)
    if (code === 'forbidden' || code === 'metadata_unavailable') {
      expect(e.wwwAuthenticate).toBeUndefined()
      expect(e.headers['WWW-Authenticate']).toBeUndefined()
    } else if (error === undefined) {
      expect(e.headers['WWW-Authenticate']).toBe('Bearer')
    } else if (error === 'insufficient_scope') {
      expect(e.headers['WWW-Authenticate']).toBe(
        'Bearer error="insufficient_scope", error_description="d", scope="Stocks.Read"',
      )
    } else {
      expect(e.headers['WWW-Authenticate']).toBe(`Bearer error="${error}", error_description="d"`)
    }
    expect(e.headers['Retry-After']).toBe(code === 'metadata_unavailable' ? '7' : undefined)
    expect(e.toJSON()).toEqual({ error: error ?? code, error_description: 'd' })
  })
})

describe('AuthError#help', () => {
  it('names the troubleshooting entry of every code, and the entry exists', async () => {
    const { readFile } = await import('node:fs/promises')
    const guide = await readFile(new URL('../../../docs/troubleshooting.md', import.meta.url), 'utf8')
    for (const code of AUTH_ERROR_CODES) {
      const help = new AuthError(code, { description: 'x' }).help
      expect(help).toBe(`docs/troubleshooting.md#${code}`)
      expect(guide).toContain(`\n## ${code}\n`)
    }
  })
})
