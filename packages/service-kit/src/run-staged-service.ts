// The composition root shared by services with the standard shutdown order (stop intake →
// drain → flush the outbox → close): logger, tracing, metrics, the service, the ops server.
import {
  createLogger,
  createMetrics,
  startOpsServer,
  startTracing,
  type Logger,
  type Metrics,
} from '@drover/observability';
import { type Lifecycle } from './lifecycle';
import { runService } from './run-service';

/** The configuration every such service has (from CommonConfig). */
export interface StagedServiceConfig {
  /** pino level. */
  LOG_LEVEL: string;
  /** Port of /healthz, /readyz and /metrics. */
  OPS_PORT: number;
  /** OTLP endpoint; tracing is exported only when set. */
  OTEL_EXPORTER_OTLP_ENDPOINT?: string;
}

/** A started service that stops in stages. */
export interface StagedService {
  /** Stops RPC, consumers and timers; waits for in-flight handlers (the drain). */
  stopIntake(): Promise<void>;
  /** Publishes what is left in the outbox. */
  flush(): Promise<void>;
  /** Closes connections and pools. */
  close(): Promise<void>;
  /** Readiness checks for /readyz. */
  checks: Record<string, () => Promise<boolean>>;
}

/** Runs `start` as the process's service with the standard stages and ops endpoints. */
export function runStagedService<C extends StagedServiceConfig>(
  name: string,
  loadConfig: () => C,
  start: (config: C, deps: { logger: Logger; metrics: Metrics }) => Promise<StagedService>,
): Promise<Lifecycle> {
  return runService(name, async (lifecycle) => {
    const config = loadConfig();
    const logger = createLogger({ service: name, level: config.LOG_LEVEL });
    const tracing = startTracing({
      service: name,
      ...(config.OTEL_EXPORTER_OTLP_ENDPOINT !== undefined && {
        otlpEndpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT,
      }),
    });
    lifecycle.onStop('close', 'tracing', () => tracing());
    const metrics = createMetrics({ service: name });
    const service = await start(config, { logger, metrics });
    // Registered after start: a failed start is cleaned up by the process exit, not by hooks.
    lifecycle.onStop('close', 'connections', () => service.close());
    lifecycle.onStop('flush', 'outbox', () => service.flush());
    lifecycle.onStop('intake', 'rpc+consumers+timers', () => service.stopIntake());
    const ops = await startOpsServer({
      port: config.OPS_PORT,
      registry: metrics.registry,
      checks: service.checks,
      logger,
    });
    lifecycle.onStop('close', 'ops-server', () => ops.close());
  });
}
