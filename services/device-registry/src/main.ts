// Composition root: config from the environment, the registry, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { createLogger, createMetrics, startOpsServer, startTracing } from '@drover/observability';
import { runService } from '@drover/service-kit';
import { startDeviceRegistry } from './app';
import { loadRegistryConfig } from './config';
import { SERVICE_NAME } from './service/registry.context';

void runService(SERVICE_NAME, async (lifecycle) => {
  const config = loadRegistryConfig();
  const logger = createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const tracing = startTracing({
    service: SERVICE_NAME,
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && {
      otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    }),
  });
  lifecycle.onStop('close', 'tracing', () => tracing());
  const metrics = createMetrics({ service: SERVICE_NAME });
  // Streams are set up before services start (scripts/start.mjs, the deploy); services only
  // look consumers up.
  const registry = await startDeviceRegistry(config, { logger, metrics });
  // Registered after start: a failed start is cleaned up by the process exit, not by hooks.
  lifecycle.onStop('close', 'connections', () => registry.close());
  lifecycle.onStop('flush', 'outbox', () => registry.flush());
  // RPC and consumers stop first; consumer.stop() waits for in-flight handlers (the drain).
  lifecycle.onStop('intake', 'rpc+consumers', () => registry.stopIntake());
  const ops = await startOpsServer({
    port: config.OPS_PORT,
    registry: metrics.registry,
    checks: registry.checks,
    logger,
  });
  lifecycle.onStop('close', 'ops-server', () => ops.close());
});
