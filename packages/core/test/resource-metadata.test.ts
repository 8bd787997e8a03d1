import { AuthError, ConfigurationError, createResourceMetadata, createValidator } from '@entraguard/core'
import { describe, expect, it } from 'vitest'

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47'
const CLIENT_ID = '6e74172b-be56-4843-9ff4-e66a39bb12e3'
const config = { authority: 'https://login.microsoftonline.com', tenant: TENANT, audiences: [CLIENT_ID] }

describe('createResourceMetadata (RFC 9728)', () => {
  it('builds the document with the v2.0 issuer, full scopes and header-only bearer method', () => {
    const m = createResourceMetadata(
      { resource: 'https://mcp.contoso.com/mcp', scopes: ['Stocks.Read'], resourceName: 'Stock API' },
      config,
    )
    expect(m.document).toEqual({
      resource: 'https://mcp.contoso.com/mcp',
      authorization_servers: [`https://login.microsoftonline.com/${TENANT}/v2.0`],
      scopes_supported: ['https://mcp.contoso.com/mcp/Stocks.Read'],
      bearer_methods_supported: ['header'],
      resource_name: 'Stock API',
    })
    expect(m.url).toBe('https://mcp.contoso.com/.well-known/oauth-protected-resource/mcp')
    expect(m.paths).toEqual([
      '/.well-known/oauth-protected-resource/mcp',
      '/.well-known/oauth-protected-resource',
    ])
  })

  it('keeps a bare-origin resource verbatim (no trailing slash added) and serves one path', () => {
    const m = createResourceMetadata({ resource: 'https://api.contoso.com' }, config)
    expect(m.document.resource).toBe('https://api.contoso.com')
    expect(m.url).toBe('https://api.contoso.com/.well-known/oauth-protected-resource')
    expect(m.paths).toEqual(['/.well-known/oauth-protected-resource'])
    expect('scopes_supported' in m.document).toBe(false)
    expect('resource_name' in m.document).toBe(false)
  })

  it('takes the App ID URI for full scopes from the audience when it lists one', () => {
    const m = createResourceMetadata(
      { resource: 'https://api.contoso.com/v1', scopes: ['Stocks.Read', 'Stocks.Write'] },
      { ...config, audiences: [CLIENT_ID, 'api://stock-api'] },
    )
    expect(m.document.scopes_supported).toEqual([
      'api://stock-api/Stocks.Read',
      'api://stock-api/Stocks.Write',
    ])
    expect(m.fullScope(['Stocks.Write', 'Stocks.Read'])).toBe(
      'api://stock-api/Stocks.Write api://stock-api/Stocks.Read',
    )
  })

  it.each([
    ['https://api.contoso.com/', "must not end with '/'"],
    ['https://api.contoso.com/mcp/', 'AADSTS9010010'],
    ['http://api.contoso.com/mcp', 'https'],
    ['https://api.contoso.com/mcp#x', 'fragment'],
    ['https://api.contoso.com/mcp?x=1', 'query'],
    ['api.contoso.com/mcp', 'absolute URL'],
  ])('refuses resource %s at start-up (%s)', (resource, text) => {
    expect(() => createResourceMetadata({ resource }, config)).toThrow(text)
    expect(() =>
      createValidator({ tenant: TENANT, audience: CLIENT_ID, resourceMetadata: { resource } }),
    ).toThrow(ConfigurationError)
  })

  it('accepts plain http for loopback resources (emulator, tests)', () => {
    expect(createResourceMetadata({ resource: 'http://127.0.0.1:3000/mcp' }, config).url).toBe(
      'http://127.0.0.1:3000/.well-known/oauth-protected-resource/mcp',
    )
  })

  it('answers GET, HEAD and OPTIONS with CORS, and 405 otherwise', () => {
    const m = createResourceMetadata({ resource: 'https://api.contoso.com' }, config)
    const get = m.respond('GET')
    expect(get.status).toBe(200)
    expect(JSON.parse(get.body)).toEqual(m.document)
    expect(get.headers['Access-Control-Allow-Origin']).toBe('*')
    expect(get.headers['Content-Type']).toBe('application/json; charset=utf-8')
    expect(m.respond('head')).toMatchObject({ status: 200, body: '' })
    expect(m.respond('OPTIONS')).toMatchObject({ status: 204, body: '' })
    expect(m.respond('OPTIONS').headers['Access-Control-Allow-Methods']).toBe('GET, HEAD, OPTIONS')
    expect(m.respond('POST')).toMatchObject({ status: 405, headers: { Allow: 'GET, HEAD, OPTIONS' } })
  })

  it('is on the validator when the option is set, and absent otherwise', () => {
    const withIt = createValidator({
      tenant: TENANT,
      audience: [CLIENT_ID, 'api://stock-api'],
      resourceMetadata: { resource: 'https://api.contoso.com', scopes: ['Stocks.Read'] },
    })
    expect(withIt.resourceMetadata?.document.scopes_supported).toEqual(['api://stock-api/Stocks.Read'])
    expect(withIt.resourceMetadata?.document.authorization_servers).toEqual([
      `https://login.microsoftonline.com/${TENANT}/v2.0`,
    ])
    const sovereign = createValidator({
      tenant: TENANT,
      audience: CLIENT_ID,
      cloud: 'usgov',
      resourceMetadata: { resource: 'https://api.contoso.us' },
    })
    expect(sovereign.resourceMetadata?.document.authorization_servers).toEqual([
      `https://login.microsoftonline.us/${TENANT}/v2.0`,
    ])
    expect(createValidator({ tenant: TENANT, audience: CLIENT_ID }).resourceMetadata).toBeUndefined()
    for (const v of [withIt, sovereign]) v.close()
  })
})

describe('AuthError#withChallenge', () => {
  it('adds resource_metadata and the full scope, keeping code, status and texts', () => {
    const err = new AuthError('insufficient_scope', {
      description: 'The token lacks the required role',
      detail: 'reader lacks Stocks.Write',
      scope: 'Stocks.Write',
    })
    const out = err.withChallenge({
      resourceMetadata: 'https://api.contoso.com/.well-known/oauth-protected-resource',
      scope: 'api://stock-api/Stocks.Write',
    })
    expect(out).toBeInstanceOf(AuthError)
    expect(out).toMatchObject({
      code: err.code,
      status: 403,
      description: err.description,
      detail: err.detail,
    })
    expect(out.wwwAuthenticate).toBe(
      'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="api://stock-api/Stocks.Write", resource_metadata="https://api.contoso.com/.well-known/oauth-protected-resource"',
    )
    expect(err.wwwAuthenticate).not.toContain('resource_metadata')
  })

  it('gives a missing token a challenge with resource_metadata and no error', () => {
    const err = new AuthError('missing_token', { description: 'No bearer token was sent' })
    expect(
      err.withChallenge({ resourceMetadata: 'https://x.example/.well-known/oauth-protected-resource' })
        .wwwAuthenticate,
    ).toBe('Bearer resource_metadata="https://x.example/.well-known/oauth-protected-resource"')
  })

  it('leaves refusals without a challenge without one', () => {
    const forbidden = new AuthError('forbidden', { description: 'no' })
    expect(forbidden.withChallenge({ resourceMetadata: 'https://x.example/m' }).headers).toEqual({})
    const down = new AuthError('metadata_unavailable', { description: 'down', retryAfter: 7 })
    expect(down.withChallenge({ resourceMetadata: 'https://x.example/m' }).headers).toEqual({
      'Retry-After': '7',
    })
  })
})
