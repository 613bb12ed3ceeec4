// Public surface of @drover/api-gateway (for the bench, the CLI's tests and the integrator).
export {
  API_PREFIX,
  buildGateway,
  type GatewayApp,
  type GatewayDeps,
  type RunningGateway,
  SERVICE_NAME,
  startGateway,
} from './app';
export { type GatewayConfig, GatewayConfigSchema, loadGatewayConfig } from './config';
export { buildOpenApiDocument } from './openapi-document';
