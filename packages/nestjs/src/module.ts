import {
  ConfigurationError,
  formatPreflight,
  type Policy,
  useValidator,
  type Validator,
  type ValidatorSource,
} from '@entraguard/core'
import {
  type DynamicModule,
  type FactoryProvider,
  Inject,
  Logger,
  Module,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
  type OnModuleInit,
  type Provider,
} from '@nestjs/common'
import {
  APP_FILTER,
  APP_GUARD,
  DiscoveryModule,
  DiscoveryService,
  HttpAdapterHost,
  MetadataScanner,
} from '@nestjs/core'
import { EntraAuthExceptionFilter } from './exception-filter.js'
import { EntraAuthGuard } from './guard.js'
import { ROUTE_AUTH, type RouteAuth } from './route-auth.js'
import { ENTRA_AUTH_OPTIONS, ENTRA_POLICY, ENTRA_VALIDATOR } from './tokens.js'

/** Options of {@link EntraAuthModule.forRoot}: validator options or `{ validator }`, plus the module's own. */
export type EntraAuthModuleOptions = ValidatorSource & {
  /** The RBAC policy that `@Permission()` checks. */
  policy?: Policy | undefined
  /** Fetch metadata and keys when the app starts (in the background: a failure is logged, never thrown). Default true. */
  warm?: boolean | undefined
  /**
   * Report-only roll-out: refusals are reported as `token.would_reject` / `access.would_deny` events and the
   * handler runs (`request.auth` unset when the token was refused). Default: the validator's `reportOnly`;
   * `@ReportOnly()` / `@ReportOnly(false)` sets it per controller or handler.
   */
  reportOnly?: boolean | undefined
  /**
   * Run `validator.preflight()` when the module initialises: `'warn'` logs its problems; `'fail'` makes the
   * module's init throw when one is an error, so the app refuses to start. Default `false`.
   */
  preflight?: 'warn' | 'fail' | false | undefined
}

/** How the guard is installed; given to `forRoot` / `forRootAsync` directly, never through a factory. */
export interface EntraAuthGuardOptions {
  /** Register {@link EntraAuthGuard} as a global guard (`APP_GUARD`). Default true; false → `@UseGuards(EntraAuthGuard)`. */
  globalGuard?: boolean | undefined
}

/** Options of {@link EntraAuthModule.forRootAsync}: the options come from a factory (e.g. over `ConfigService`). */
export interface EntraAuthModuleAsyncOptions extends EntraAuthGuardOptions {
  imports?: ModuleMetadata['imports']
  inject?: FactoryProvider['inject']
  useFactory: (...args: any[]) => EntraAuthModuleOptions | Promise<EntraAuthModuleOptions>
}

const SOURCE = Symbol('entraguard.nestjs.validator-source')
type Source = { validator: Validator; owned: boolean }

/**
 * The global NestJS module of entraguard: provides the validator ({@link ENTRA_VALIDATOR}) and the policy
 * ({@link ENTRA_POLICY}), installs {@link EntraAuthGuard} as a global guard (every route needs a valid
 * token unless `@Public()`) and {@link EntraAuthExceptionFilter}, which answers refusals with their
 * `WWW-Authenticate` / `Retry-After` headers on Express and Fastify alike.
 *
 * @example
 * @Module({ imports: [EntraAuthModule.forRoot({ tenant: 'contoso.onmicrosoft.com', audience: 'api://stock-api' })] })
 * export class AppModule {}
 */
@Module({})
export class EntraAuthModule implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy {
  private static readonly logger = new Logger('EntraAuthModule')

  constructor(
    @Inject(SOURCE) private readonly source: Source,
    @Inject(ENTRA_AUTH_OPTIONS) private readonly options: EntraAuthModuleOptions,
    @Inject(HttpAdapterHost) private readonly adapterHost: HttpAdapterHost,
    @Inject(DiscoveryService) private readonly discovery: DiscoveryService,
    @Inject(MetadataScanner) private readonly scanner: MetadataScanner,
  ) {}

  /**
   * Registers the module with options known up front.
   *
   * @example
   * EntraAuthModule.forRoot({ tenant: process.env.TENANT_ID, audience: ['api://stock-api'], policy })
   */
  static forRoot(options: EntraAuthModuleOptions & EntraAuthGuardOptions): DynamicModule {
    const { globalGuard, ...rest } = options
    return EntraAuthModule.build([{ provide: ENTRA_AUTH_OPTIONS, useValue: rest }], [], globalGuard)
  }

  /**
   * Registers the module with options from a factory, e.g. read from `ConfigService`.
   *
   * @example
   * EntraAuthModule.forRootAsync({
   *   imports: [ConfigModule],
   *   inject: [ConfigService],
   *   useFactory: (config: ConfigService) => ({ tenant: config.get('TENANT_ID'), audience: config.get('API_AUDIENCE') }),
   * })
   */
  static forRootAsync(options: EntraAuthModuleAsyncOptions): DynamicModule {
    const { imports = [], inject = [], useFactory, globalGuard } = options
    return EntraAuthModule.build([{ provide: ENTRA_AUTH_OPTIONS, useFactory, inject }], imports, globalGuard)
  }

  private static build(
    optionsProviders: Provider[],
    imports: NonNullable<ModuleMetadata['imports']>,
    globalGuard: boolean | undefined,
  ): DynamicModule {
    const providers: Provider[] = [
      ...optionsProviders,
      {
        provide: SOURCE,
        useFactory: ({
          policy: _p,
          warm: _w,
          reportOnly: _r,
          preflight: _f,
          ...source
        }: EntraAuthModuleOptions): Source => useValidator(source as ValidatorSource),
        inject: [ENTRA_AUTH_OPTIONS],
      },
      { provide: ENTRA_VALIDATOR, useFactory: (s: Source) => s.validator, inject: [SOURCE] },
      {
        provide: ENTRA_POLICY,
        useFactory: (o: EntraAuthModuleOptions) => o.policy ?? null,
        inject: [ENTRA_AUTH_OPTIONS],
      },
      EntraAuthGuard,
      { provide: APP_FILTER, useClass: EntraAuthExceptionFilter },
    ]
    if (globalGuard !== false) providers.push({ provide: APP_GUARD, useExisting: EntraAuthGuard })
    return {
      module: EntraAuthModule,
      global: true,
      imports: [DiscoveryModule, ...imports],
      providers,
      exports: [ENTRA_VALIDATOR, ENTRA_POLICY, ENTRA_AUTH_OPTIONS, EntraAuthGuard],
    }
  }

  /** Runs the preflight when asked, then serves the validator's RFC 9728 metadata document, when it has one, at its paths. */
  async onModuleInit(): Promise<void> {
    this.checkPermissionsHavePolicy()
    await this.preflight()
    const metadata = this.source.validator.resourceMetadata
    const http = this.adapterHost.httpAdapter
    if (metadata === undefined || http === undefined) return
    for (const path of metadata.paths) {
      http.all(path, (request: { method: string }, response: unknown) => {
        const answer = metadata.respond(request.method)
        for (const [name, value] of Object.entries(answer.headers)) http.setHeader(response, name, value)
        http.reply(response, answer.body, answer.status)
      })
    }
  }

  /** A `@Permission()` route without a policy would fail every request: refuse to start instead, naming it. */
  private checkPermissionsHavePolicy(): void {
    if (this.options.policy !== undefined) return
    for (const { metatype } of this.discovery.getControllers()) {
      if (typeof metatype !== 'function') continue
      const prototype = metatype.prototype as Record<string, unknown>
      const onClass = Reflect.getMetadata(ROUTE_AUTH, metatype) as RouteAuth | undefined
      for (const name of this.scanner.getAllMethodNames(prototype)) {
        const own = Reflect.getMetadata(ROUTE_AUTH, prototype[name] as object) as RouteAuth | undefined
        const permission = (own ?? onClass)?.permission
        if (permission !== undefined) {
          throw new ConfigurationError(
            `entraguard: ${metatype.name}.${name} has @Permission('${permission.action}') but EntraAuthModule has no policy: pass { policy } to forRoot() / forRootAsync()`,
          )
        }
      }
    }
  }

  private async preflight(): Promise<void> {
    const mode = this.options.preflight ?? false
    if (mode === false) return
    const report = await this.source.validator.preflight()
    if (report.problems.length === 0) return
    const text = formatPreflight(report)
    if (mode === 'fail' && !report.ok) throw new ConfigurationError(text)
    EntraAuthModule.logger.warn(text)
  }

  onApplicationBootstrap(): void {
    if (this.options.warm === false) return
    this.source.validator.warm().catch((err: Error) => {
      EntraAuthModule.logger.warn(
        `signing keys not fetched yet (requests get 503 until they are): ${err.message}`,
      )
    })
  }

  onModuleDestroy(): void {
    if (this.source.owned) this.source.validator.close()
  }
}
