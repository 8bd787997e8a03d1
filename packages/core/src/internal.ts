/**
 * The hot path of entraguard's own adapters (`@entraguard/core/internal`). Not part of the public contract in
 * DESIGN.md: it may change in any release. Applications use `authenticate()` and `validator.validate()`.
 *
 * @packageDocumentation
 */
export { allowsQuietly } from './access.js'
export { type Authenticated, authenticateNow } from './authenticate.js'
