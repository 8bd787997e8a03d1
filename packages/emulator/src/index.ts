export {
  type App,
  type EmulatorConfig,
  EmulatorConfigError,
  type EmulatorOptions,
  type Identity,
  resolveConfig,
  type Tenant,
  type User,
} from './config.js'
export { type Emulator, type MintOptions, startEmulator } from './emulator.js'
