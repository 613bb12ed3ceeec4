// Public surface of the device simulator (tests, `drover demo` and the benchmarks).
export { startDeviceSimulator, workerCount, otaOptions, SERVICE_NAME } from './app';
export type { DeviceSimulator, SimulatorDeps } from './app';
export { loadSimulatorConfig, SimulatorConfigSchema } from './config';
export type { SimulatorConfig } from './config';
export { plainBrokerIdentity } from './identity-source';
export type { DeviceConnection, DeviceIdentitySource } from './identity-source';
export { provisionedIdentity } from './provisioning';
export type { PemIdentity, ProvisionedIdentitySource } from './provisioning';
