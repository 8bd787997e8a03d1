// The smallest useful entraguard API with NestJS: copy it, set the environment, run it.
//   TENANT_ID=<tenant id or domain> API_AUDIENCE=api://my-api PORT=3000 node minimal-nestjs.js
import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import { Auth, EntraAuthModule, Public, Roles, Scopes } from '@entraguard/nestjs'
import { Controller, Get, Module } from '@nestjs/common'
import { NestFactory } from '@nestjs/core'

@Controller()
class StocksController {
  @Get('health') @Public() health() {
    return { ok: true }
  }
  // App-only callers (VMs with managed identities) need the app role...
  @Get('stocks') @Roles('Stocks.Read') list(@Auth('clientId') caller: string) {
    return { stocks: ['AAPL', 'MSFT'], caller }
  }
  // ...users calling through a client app need the delegated scope.
  @Get('me') @Scopes('Stocks.Read') me(@Auth('name') name: string | undefined) {
    return { name }
  }
}

@Module({
  imports: [
    EntraAuthModule.forRoot({
      tenant: process.env.TENANT_ID ?? '',
      audience: (process.env.API_AUDIENCE ?? '').split(','),
      ...(process.env.AUTHORITY ? { authority: process.env.AUTHORITY } : {}),
    }),
  ],
  controllers: [StocksController],
})
class AppModule {}

const app = await NestFactory.create(AppModule, { logger: ['error', 'warn'] })
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1')
console.log(`listening on http://127.0.0.1:${(app.getHttpServer().address() as AddressInfo).port}`)
