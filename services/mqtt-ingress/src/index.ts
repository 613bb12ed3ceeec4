export {
  startMqttIngress,
  subscriptionFilters,
  type MqttIngress,
  type StartOptions,
  type SubscriptionFilters,
} from './app';
export { IngressConfigSchema, loadIngressConfig, type IngressConfig } from './config';
export { type TelemetryRecord } from './domain/message-router';
