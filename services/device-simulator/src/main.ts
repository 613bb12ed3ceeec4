// Composition root: config, the simulator, the ops server, and the shutdown order (stop the
// devices first: they announce offline while the broker is still up).
import { createLogger, createMetrics, startOpsServer } from '@drover/observability';
import { runService } from '@drover/service-kit';
import { SERVICE_NAME, startDeviceSimulator } from './app';
import { loadSimulatorConfig } from './config';

void runService(SERVICE_NAME, async (lifecycle) => {
  const config = loadSimulatorConfig();
  const logger = createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const metrics = createMetrics({ service: SERVICE_NAME });
  const sim = await startDeviceSimulator(config, { logger, metrics });
  lifecycle.onStop('intake', 'devices', () => sim.stop());
  const ops = await startOpsServer({
    port: config.OPS_PORT,
    registry: metrics.registry,
    checks: sim.checks,
    logger,
  });
  lifecycle.onStop('close', 'ops-server', () => ops.close());
  logger.info(
    { event: 'sim.starting', fleet: config.FLEET_SIZE, tenant: config.SIM_TENANT },
    `simulating ${config.FLEET_SIZE} devices of tenant ${config.SIM_TENANT}`,
  );
});
