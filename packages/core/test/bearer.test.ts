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

describe('extractBearerToken: the b64token rule, exhaustively', () => {
  // RFC 6750's b64token as a regular expression: the reference the faster check must equal (issue 9).
  const B64TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/
  const alphabet = ['a', 'Z', '0', '.', '-', '_', '~', '+', '/', '=', '%', 'é']
  function* strings(length: number, prefix = ''): Generator<string> {
    if (length === 0) yield prefix
    else for (const c of alphabet) yield* strings(length - 1, prefix + c)
  }

  it('takes exactly the credentials RFC 6750 allows, for every string of up to 4 characters', () => {
    let checked = 0
    for (let length = 1; length <= 4; length++) {
      for (const credentials of strings(length)) {
        let token: string | undefined
        try {
          token = extractBearerToken(`Bearer ${credentials}`)
        } catch (err) {
          expect((err as AuthError).code).toBe('malformed_request')
        }
        expect(token === credentials).toBe(B64TOKEN.test(credentials))
        checked++
      }
    }
    expect(checked).toBe(12 + 12 ** 2 + 12 ** 3 + 12 ** 4)
  })
})
