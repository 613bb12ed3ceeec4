// @drover/command-gateway: the service, startable in-process (tests, the benchmark).
export { startCommandGateway } from './app';
export type { CommandGateway, GatewayAppConfig, GatewayDeps } from './app';
export { GatewayConfigSchema, loadGatewayConfig } from './config';
export type { GatewayConfig } from './config';
