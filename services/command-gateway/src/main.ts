// Composition root: config from the environment, the gateway, the ops server, and the
// shutdown order (stop intake → drain → flush the outbox → close).
import { createLogger, createMetrics, startOpsServer, startTracing } from '@drover/observability';
import { runService } from '@drover/service-kit';
import { startCommandGateway } from './app';
import { loadGatewayConfig } from './config';
import { SERVICE_NAME } from './service/gateway.context';

void runService(SERVICE_NAME, async (lifecycle) => {
  const config = loadGatewayConfig();
  const logger = createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const tracing = startTracing({
    service: SERVICE_NAME,
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && {
      otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    }),
  });
  lifecycle.onStop('close', 'tracing', () => tracing());
  const metrics = createMetrics({ service: SERVICE_NAME });
  const gateway = await startCommandGateway(config, { logger, metrics });
  lifecycle.onStop('close', 'connections', () => gateway.close());
  lifecycle.onStop('flush', 'outbox', () => gateway.flush());
  lifecycle.onStop('intake', 'rpc+consumers+scanner', () => gateway.stopIntake());
  const ops = await startOpsServer({
    port: config.OPS_PORT,
    registry: metrics.registry,
    checks: gateway.checks,
    logger,
  });
  lifecycle.onStop('close', 'ops-server', () => ops.close());
});
