import { AuthError, isAuthError } from '@entraguard/core'
import { type ArgumentsHost, Catch, type ExceptionFilter, type HttpServer, Inject } from '@nestjs/common'
import { HttpAdapterHost } from '@nestjs/core'

/** What {@link renderAuthError} needs of Nest's HTTP adapter (`HttpAdapterHost.httpAdapter`). */
export type AuthErrorRenderer = Pick<HttpServer, 'reply' | 'setHeader' | 'isHeadersSent' | 'end'>

/**
 * Answers an {@link AuthError} the way every entraguard adapter does: its status, `WWW-Authenticate` and
 * `Retry-After`, and the JSON body `{ error, error_description }`, through Nest's HTTP adapter, so Express
 * and Fastify answer alike. Returns `false`, answering nothing, for any other error (or a non-HTTP context),
 * so an app with its own global filter can call it first and handle the rest as before.
 *
 * @example
 * @Catch()
 * class AppFilter implements ExceptionFilter {
 *   constructor(@Inject(HttpAdapterHost) private readonly host: HttpAdapterHost) {}
 *   catch(error: unknown, host: ArgumentsHost) {
 *     if (renderAuthError(error, host, this.host.httpAdapter)) return
 *     // ...the app's own handling
 *   }
 * }
 */
export function renderAuthError(
  error: unknown,
  host: ArgumentsHost,
  httpAdapter: AuthErrorRenderer,
): boolean {
  if (!isAuthError(error) || host.getType() !== 'http') return false
  const response = host.switchToHttp().getResponse<unknown>()
  if (httpAdapter.isHeadersSent(response)) {
    httpAdapter.end(response)
    return true
  }
  httpAdapter.setHeader(response, 'content-type', 'application/json; charset=utf-8')
  for (const [name, value] of Object.entries(error.headers)) httpAdapter.setHeader(response, name, value)
  httpAdapter.reply(response, error.toJSON(), error.status)
  return true
}

/**
 * The exception filter `EntraAuthModule` registers (as `APP_FILTER`). Nest's built-in filter would keep an
 * `AuthError`'s status but drop its `WWW-Authenticate` and `Retry-After` headers and answer with its own body;
 * this one renders it with {@link renderAuthError}. Other errors never reach it.
 *
 * @example
 * app.useGlobalFilters(new EntraAuthExceptionFilter(app.get(HttpAdapterHost)))
 */
@Catch(AuthError)
export class EntraAuthExceptionFilter implements ExceptionFilter<AuthError> {
  constructor(@Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost) {}

  catch(error: AuthError, host: ArgumentsHost): void {
    if (!renderAuthError(error, host, this.adapterHost.httpAdapter)) throw error
  }
}
