// Public entry for other workspaces' tests: run the real registry in-process.
export { startDeviceRegistry, type DeviceRegistry, type RegistryAppConfig } from './app';
export { RegistryConfigSchema, type RegistryConfig } from './config';
