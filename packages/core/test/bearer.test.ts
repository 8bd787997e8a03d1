import { AuthError, extractBearerToken } from '@entraguard/core'
import { describe, expect, it } from 'vitest'

function codeOf(value: unknown): string {
  try {
    extractBearerToken(value)
    return 'ok'
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError)
    return (err as AuthError).code
  }
}

describe('extractBearerToken', () => {
  it('takes the token after a case-insensitive Bearer scheme and one or more spaces', () => {
    expect(extractBearerToken('Bearer a.b.c')).toBe('a.b.c')
    expect(extractBearerToken('bearer a.b.c')).toBe('a.b.c')
    expect(extractBearerToken('BEARER   a.b.c')).toBe('a.b.c')
    expect(extractBearerToken('a.b.c')).toBe('a.b.c')
  })

  it.each([
    [undefined, 'missing_token'],
    ['', 'missing_token'],
    ['   ', 'missing_token'],
    ['Basic dXNlcjpwYXNz', 'missing_token'],
    ['Digest username="x"', 'missing_token'],
    ['Bearer', 'malformed_request'],
    ['Bearer ', 'malformed_request'],
    ['Bearer a.b.c d.e.f', 'malformed_request'],
    ['Bearer a.b.c, Bearer d.e.f', 'malformed_request'],
    ['Bearer a.b.c\u00e9', 'malformed_request'],
    ['Bearer\ta.b.c', 'malformed_request'],
    ['Bearer a\u0000b', 'malformed_request'],
    [`Bearer ${'a'.repeat(20_000)}`, 'malformed_request'],
    [42, 'malformed_request'],
    [['Bearer a.b.c', 'Bearer d.e.f'], 'malformed_request'],
    [{}, 'malformed_request'],
  ])('%j → %s', (input, code) => {
    expect(codeOf(input)).toBe(code)
  })

  it('sets the RFC 6750 status and challenge on each failure', () => {
    try {
      extractBearerToken('Bearer')
    } catch (err) {
      const e = err as AuthError
      expect(e.status).toBe(400)
      expect(e.headers['WWW-Authenticate']).toBe(
        'Bearer error="invalid_request", error_description="The bearer token is empty"',
      )
    }
    try {
      extractBearerToken(undefined)
    } catch (err) {
      const e = err as AuthError
      expect(e.status).toBe(401)
      expect(e.wwwAuthenticate).toBe('Bearer')
    }
  })
})
