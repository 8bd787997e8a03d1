import { AuthError, createValidator, toResponse, type Validator } from '@entraguard/core'
import { type Emulator, startEmulator } from '@entraguard/emulator'
import { EntraAuthModule, Public, renderAuthError } from '@entraguard/nestjs'
import {
  type ArgumentsHost,
  Catch,
  Controller,
  type ExceptionFilter,
  Get,
  Inject,
  Param,
} from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { emulatorConfig, PLATFORMS, startApp } from './support.js'

const errors: Record<string, () => AuthError> = {
  missing: () => new AuthError('missing_token', { description: 'No bearer token was sent' }),
  invalid: () => new AuthError('expired', { description: 'The token is expired' }),
  scope: () =>
    new AuthError('insufficient_scope', {
      description: 'The token lacks the required role',
      scope: 'Stocks.Write',
    }),
  forbidden: () =>
    new AuthError('forbidden', { description: 'You do not have permission to perform this action' }),
  outage: () => new AuthError('metadata_unavailable', { description: 'Keys unavailable', retryAfter: 7 }),
}

@Controller('throw')
@Public()
class ThrowingController {
  @Get('bug')
  bug() {
    throw new Error('a bug, with a secret detail')
  }

  @Get(':kind')
  auth(@Param('kind') kind: string) {
    throw (errors[kind] as () => AuthError)()
  }
}

/** An app's own catch-all global filter, which takes precedence over the module's and delegates to renderAuthError. */
@Catch()
class AppFilter implements ExceptionFilter {
  rendered = 0
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}
  catch(error: unknown, host: ArgumentsHost) {
    const http = this.adapterHost.httpAdapter
    if (renderAuthError(error, host, http)) {
      this.rendered++
      return
    }
    http.reply(host.switchToHttp().getResponse(), { app: 'own answer' }, 418)
  }
}

/** What the client sees: the same for every adapter, and the same as core's Fetch `toResponse`. */
async function seen(reply: Response) {
  return {
    status: reply.status,
    challenge: reply.headers.get('www-authenticate'),
    retryAfter: reply.headers.get('retry-after'),
    type: reply.headers.get('content-type'),
    body: await reply.text(),
  }
}

let emu: Emulator
let validator: Validator
beforeAll(async () => {
  emu = await startEmulator(emulatorConfig)
  validator = createValidator({ tenant: emu.tenantId, audience: 'api://stock-api', authority: emu.authority })
})
afterAll(async () => {
  validator.close()
  await emu.close()
})

describe.each(PLATFORMS)('exception filter on platform-%s', (platform) => {
  it.each(Object.keys(errors))('renders a %s AuthError exactly like toResponse()', async (kind) => {
    const api = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator, warm: false })],
      controllers: [ThrowingController],
    })
    try {
      const expected = await seen(toResponse((errors[kind] as () => AuthError)()))
      expect(await seen(await api.get(`/throw/${kind}`))).toEqual(expected)
    } finally {
      await api.close()
    }
  })

  it('leaves other errors to Nest: a 500 that tells the client nothing', async () => {
    const api = await startApp(platform, {
      imports: [EntraAuthModule.forRoot({ validator, warm: false })],
      controllers: [ThrowingController],
    })
    try {
      const reply = await api.get('/throw/bug')
      expect(reply.status).toBe(500)
      expect(reply.headers.get('www-authenticate')).toBeNull()
      expect(await reply.json()).toEqual({ statusCode: 500, message: 'Internal server error' })
    } finally {
      await api.close()
    }
  })

  it("keeps the headers behind an app's own global filter that calls renderAuthError", async () => {
    let filter: AppFilter | undefined
    // useGlobalFilters runs after the module's APP_FILTER is registered, so the app's catch-all is tried first.
    const api = await startApp(
      platform,
      { imports: [EntraAuthModule.forRoot({ validator, warm: false })], controllers: [ThrowingController] },
      (app) => app.useGlobalFilters((filter = new AppFilter(app.get(HttpAdapterHost)))),
    )
    try {
      const refused = await api.get('/throw/outage')
      expect(await seen(refused)).toEqual(await seen(toResponse(errors.outage?.())))
      expect(filter?.rendered).toBe(1)
      const bug = await api.get('/throw/bug')
      expect(bug.status).toBe(418)
      expect(await bug.json()).toEqual({ app: 'own answer' })
    } finally {
      await api.close()
    }
  })
})

describe('renderAuthError', () => {
  const adapter = {
    reply: () => {
      throw new Error('must not answer')
    },
    setHeader: () => {
      throw new Error('must not answer')
    },
    isHeadersSent: () => false,
    end: () => undefined,
  }
  const host = (type: string) => ({ getType: () => type }) as unknown as ArgumentsHost

  it('answers nothing for other errors and for non-HTTP contexts', () => {
    expect(renderAuthError(new Error('x'), host('http'), adapter)).toBe(false)
    expect(renderAuthError(errors.missing?.(), host('rpc'), adapter)).toBe(false)
  })
})
