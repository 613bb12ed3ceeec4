// Public surface of the device simulator (tests, the future `drover demo` and benchmarks).
export { startDeviceSimulator, SERVICE_NAME } from './app';
export type { DeviceSimulator, SimulatorDeps } from './app';
export { loadSimulatorConfig, SimulatorConfigSchema } from './config';
export type { SimulatorConfig } from './config';
export { plainBrokerIdentity } from './identity-source';
export type { DeviceConnection, DeviceIdentitySource } from './identity-source';
