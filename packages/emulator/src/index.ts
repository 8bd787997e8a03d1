export type { ServiceAccountTokenOptions } from './clusters.js'
export {
  type App,
  type AppOptions,
  type Cluster,
  type EmulatorConfig,
  EmulatorConfigError,
  type EmulatorOptions,
  type FederatedCredential,
  type Identity,
  type IdentityOptions,
  resolveConfig,
  type Tenant,
  type TokenCacheSettings,
  type User,
} from './config.js'
export type { AppRoleAssignment } from './directory.js'
export { type Emulator, type MintOptions, startEmulator } from './emulator.js'
