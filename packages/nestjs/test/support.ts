import 'reflect-metadata'
import type { AddressInfo } from 'node:net'
import type { Emulator, MintOptions } from '@entraguard/emulator'
import type { INestApplication, ModuleMetadata } from '@nestjs/common'
import { ExpressAdapter } from '@nestjs/platform-express'
import { FastifyAdapter } from '@nestjs/platform-fastify'
import { Test } from '@nestjs/testing'

export const PLATFORMS = ['express', 'fastify'] as const
export type Platform = (typeof PLATFORMS)[number]

/** A Nest app built with @nestjs/testing on one platform, listening on 127.0.0.1:0. */
export interface TestApp {
  app: INestApplication
  get(path: string, init?: RequestInit): Promise<Response>
  close(): Promise<void>
}

export async function startApp(
  platform: Platform,
  metadata: ModuleMetadata,
  configure?: (app: INestApplication) => void,
): Promise<TestApp> {
  const moduleRef = await Test.createTestingModule(metadata).compile()
  const app = moduleRef.createNestApplication(
    platform === 'express' ? new ExpressAdapter() : new FastifyAdapter(),
    { logger: false },
  )
  configure?.(app)
  await app.listen(0, '127.0.0.1')
  const { port } = app.getHttpServer().address() as AddressInfo
  const base = `http://127.0.0.1:${port}`
  return { app, get: (path, init) => fetch(`${base}${path}`, init), close: () => app.close() }
}

/** `{ authorization: 'Bearer …' }` with a token minted by the emulator. */
export function bearer(emu: Emulator, options: MintOptions): { authorization: string } {
  return { authorization: `Bearer ${emu.mintToken({ audience: 'api://stock-api', ...options })}` }
}

/** The emulator of these tests: one API with two app roles and one delegated scope. */
export const emulatorConfig = {
  apps: [{ appIdUri: 'api://stock-api', appRoles: ['Stocks.Read', 'Stocks.Write'], scopes: ['Stocks.Read'] }],
}
