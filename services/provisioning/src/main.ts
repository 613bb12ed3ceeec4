// Composition root: config from the environment, the service, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { createLogger, createMetrics, startOpsServer, startTracing } from '@drover/observability';
import { runService } from '@drover/service-kit';
import { startProvisioning } from './app';
import { loadProvisioningConfig } from './config';
import { SERVICE_NAME } from './service/provisioning.context';

void runService(SERVICE_NAME, async (lifecycle) => {
  const config = loadProvisioningConfig();
  const logger = createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const tracing = startTracing({
    service: SERVICE_NAME,
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && {
      otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    }),
  });
  lifecycle.onStop('close', 'tracing', () => tracing());
  const metrics = createMetrics({ service: SERVICE_NAME });
  const service = await startProvisioning(config, { logger, metrics });
  lifecycle.onStop('close', 'connections', () => service.close());
  lifecycle.onStop('flush', 'outbox', () => service.flush());
  lifecycle.onStop('intake', 'rpc+consumers+timer', () => service.stopIntake());
  const ops = await startOpsServer({
    port: config.OPS_PORT,
    registry: metrics.registry,
    checks: service.checks,
    logger,
  });
  lifecycle.onStop('close', 'ops-server', () => ops.close());
});
