export {
  runWithContext,
  getContext,
  captureContext,
  newCorrelationId,
  type DroverContext,
} from './context';
export { createLogger, hashId, type Logger, type LoggerOptions } from './logger';
export { createMetrics, type Metrics, type MetricsOptions } from './metrics';
export {
  startOpsServer,
  type OpsServer,
  type OpsServerOptions,
  type ReadinessCheck,
} from './ops-server';
export {
  startTracing,
  installTracePropagation,
  injectTraceHeaders,
  extractTraceContext,
  currentTraceId,
  type TracingOptions,
  type TracingShutdown,
} from './tracing';
