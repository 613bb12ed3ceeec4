// Composition root: configuration from the environment, tracing, the gateway, and the
// shutdown order (stop taking requests → close Redis and drain NATS → flush traces).
import { startTracing } from '@drover/observability';
import { runService } from '@drover/service-kit';
import { SERVICE_NAME, startGateway } from './app';
import { loadGatewayConfig } from './config';

void runService(SERVICE_NAME, async (lifecycle) => {
  const config = loadGatewayConfig();
  const tracing = startTracing({
    service: SERVICE_NAME,
    ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && {
      otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
    }),
  });
  lifecycle.onStop('close', 'tracing', () => tracing());
  const gateway = await startGateway(config);
  lifecycle.onStop('close', 'connections', () => gateway.close());
  lifecycle.onStop('intake', 'http', () => gateway.stopIntake());
});
