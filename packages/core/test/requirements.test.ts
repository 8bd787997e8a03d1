import { type AuthEvent, check, enforce } from '@entraguard/core'
import { describe, expect, it } from 'vitest'
import { principal } from './principals.js'

const user = principal({ identityType: 'user', scopes: ['Stocks.Read', 'Profile'] })
const app = principal({ identityType: 'app', roles: ['Stocks.Read.All'] })

describe('check', () => {
  it('scopes: any by default, all on request', () => {
    expect(check(user, { scopes: ['Stocks.Write', 'Stocks.Read'] }).allowed).toBe(true)
    expect(check(user, { scopes: ['Stocks.Write', 'Stocks.Read'], match: 'all' }).allowed).toBe(false)
    expect(check(user, { scopes: ['Stocks.Read', 'Profile'], match: 'all' }).allowed).toBe(true)
  })

  it('roles: any by default, all on request', () => {
    expect(check(app, { roles: ['Stocks.Read.All'] }).allowed).toBe(true)
    expect(check(app, { roles: ['Stocks.Read.All', 'Stocks.Write.All'], match: 'all' }).allowed).toBe(false)
  })

  it('scopes and roles together: user tokens need the scope, app tokens the role', () => {
    const req = { scopes: ['Stocks.Read'], roles: ['Stocks.Read.All'] }
    expect(check(user, req).allowed).toBe(true)
    expect(check(app, req).allowed).toBe(true)
    // A user token that somehow carries the app role does not pass on the role.
    const userWithRole = principal({ identityType: 'user', roles: ['Stocks.Read.All'], scopes: ['Other'] })
    expect(check(userWithRole, req).allowed).toBe(false)
    const appWithoutRole = principal({ identityType: 'app', roles: ['Other'] })
    const d = check(appWithoutRole, req)
    expect(d.allowed).toBe(false)
    expect(d.error?.headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The token lacks the required role", scope="Stocks.Read.All"',
    )
  })

  it('a denial is insufficient_scope (403) naming what was required', () => {
    const d = check(app, { scopes: ['Stocks.Read', 'Stocks.Write'] })
    expect(d.allowed).toBe(false)
    expect(d.error?.code).toBe('insufficient_scope')
    expect(d.error?.status).toBe(403)
    expect(d.error?.headers['WWW-Authenticate']).toBe(
      'Bearer error="insufficient_scope", error_description="The token lacks the required scope", scope="Stocks.Read Stocks.Write"',
    )
    expect(d.reason).toContain('app-only tokens never carry scopes')
  })

  it('an empty requirement needs only a valid token', () => {
    expect(check(app, {})).toMatchObject({ allowed: true })
  })
})

describe('enforce', () => {
  it('emits access.allowed and access.denied with ids and route, and throws on denial', () => {
    const events: Omit<AuthEvent, 'at'>[] = []
    enforce(check(app, { roles: ['Stocks.Read.All'] }), app, { method: 'GET', route: '/stocks' }, (e) =>
      events.push(e),
    )
    expect(() =>
      enforce(check(app, { roles: ['Stocks.Write.All'] }), app, { method: 'POST', route: '/stocks' }, (e) =>
        events.push(e),
      ),
    ).toThrow(expect.objectContaining({ code: 'insufficient_scope' }))
    expect(events).toEqual([
      expect.objectContaining({
        type: 'access.allowed',
        objectId: app.objectId,
        clientId: app.clientId,
        route: '/stocks',
        method: 'GET',
      }),
      expect.objectContaining({
        type: 'access.denied',
        code: 'insufficient_scope',
        route: '/stocks',
        method: 'POST',
      }),
    ])
  })
})
