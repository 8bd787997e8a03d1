import type { Policy, Principal, Validator } from '@entraguard/core'
import {
  Auth,
  EntraAuthModule,
  type EntraAuthModuleOptions,
  Permission,
  RequireAuth,
  Roles,
} from '@entraguard/nestjs'
import type { DynamicModule } from '@nestjs/common'
import { describe, expectTypeOf, it } from 'vitest'

describe('types', () => {
  it('@Auth() takes a field of Principal, and nothing else', () => {
    expectTypeOf(Auth).parameter(0).toEqualTypeOf<keyof Principal | undefined>()
    // @ts-expect-error not a field of Principal
    Auth('token')
    expectTypeOf(Auth('objectId')).toEqualTypeOf<ParameterDecorator>()
  })

  it('forRoot needs tenant and audience, or a validator; policy is a Policy', () => {
    expectTypeOf(EntraAuthModule.forRoot).returns.toEqualTypeOf<DynamicModule>()
    expectTypeOf<{
      tenant: 'contoso.onmicrosoft.com'
      audience: 'api://x'
    }>().toExtend<EntraAuthModuleOptions>()
    expectTypeOf<{ validator: Validator; policy: Policy }>().toExtend<EntraAuthModuleOptions>()
    expectTypeOf<{ audience: 'api://x' }>().not.toExtend<EntraAuthModuleOptions>()
    expectTypeOf<{ validator: Validator; policy: string }>().not.toExtend<EntraAuthModuleOptions>()
  })

  it('forRootAsync needs a factory returning module options', () => {
    type Async = Parameters<typeof EntraAuthModule.forRootAsync>[0]
    expectTypeOf<{ useFactory: () => { validator: Validator } }>().toExtend<Async>()
    expectTypeOf<{ useFactory: () => Promise<{ tenant: string; audience: string }> }>().toExtend<Async>()
    expectTypeOf<{ inject: [] }>().not.toExtend<Async>()
    expectTypeOf<{ useFactory: () => { tenant: string } }>().not.toExtend<Async>()
  })

  it('requirements are typed', () => {
    expectTypeOf(Roles).parameters.toEqualTypeOf<string[]>()
    expectTypeOf(RequireAuth).parameter(0).toExtend<{ match?: 'any' | 'all' | undefined } | undefined>()
    // @ts-expect-error match is 'any' or 'all'
    RequireAuth({ roles: ['a'], match: 'some' })
    Permission('stocks/delete', (req: { params: { symbol: string } }) => `/stocks/${req.params.symbol}`)
    // @ts-expect-error the resource is a string
    Permission('stocks/delete', () => 42)
  })
})
