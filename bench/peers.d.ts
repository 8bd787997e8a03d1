// The peers compared here ship no types of their own; these cover what server.ts uses.
declare module 'passport' {
  import type { RequestHandler } from 'express'

  const passport: {
    use(strategy: unknown): void
    initialize(): RequestHandler
    authenticate(name: string, options: { session: boolean }): RequestHandler
  }
  export default passport
}
declare module 'passport-azure-ad' {
  export class BearerStrategy {
    constructor(
      options: Record<string, unknown>,
      verify: (token: never, done: (err: unknown, user?: unknown) => void) => void,
    )
  }
}
