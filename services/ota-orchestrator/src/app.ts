// Builds the whole orchestrator (db + migrations, bus, outbox relay, firmware registry, rollout
// engine, RPC) so main.ts and tests run the real thing in-process.
import { hostname } from 'node:os';
import { type Kysely, sql } from 'kysely';
import { ulid } from 'ulid';
import {
  BusHealth,
  type Bus,
  connectBus,
  type Consumer,
  ensureStreams,
  type RpcServer,
  startOutboxRelay,
} from '@drover/bus';
import { createDb, migrate } from '@drover/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@drover/observability';
import { loadConfig } from '@drover/service-kit';
import { type OtaConfig, OtaConfigSchema } from './config';
import { otaMigrations } from './adapters/postgres/migrations';
import { type DB } from './adapters/postgres/schema';
import { type FirmwareCatalog } from './firmware/firmware.catalog';
import { createFirmwareModule } from './firmware/firmware.module';
import { type OtaHandlerMap, startOtaRpc } from './rpc/ota.rpc-server';
import { type OtaContext, SERVICE_NAME } from './service/ota.context';
import { startRolloutConsumers } from './rollout/device-traffic.consumer';
import { deploymentEndpoints } from './rollout/deployment.rpc';
import { rehearsalEndpoints } from './rpc/rehearsal.handlers';
import { type Driver, startDriver } from './rollout/driver';
import { gatewaySender } from './rollout/gateway.sender';
import { registryDirectory } from './rollout/registry.directory';
import { type RolloutContext } from './rollout/rollout.context';
import { rolloutMetrics } from './rollout/rollout.metrics';

/** The required settings plus any of the optional ones (defaults from the config schema). */
export type OtaAppConfig = Pick<OtaConfig, 'NATS_URL' | 'DATABASE_URL'> & Partial<OtaConfig>;

/** What the firmware registry contributes to the running service. */
export interface FirmwareModule {
  /** The port the rollout engine reads firmware through. */
  catalog: FirmwareCatalog;
  /** Its RPC operations (register_firmware, get_firmware, list_firmware, ...). */
  endpoints: OtaHandlerMap;
  /** Stops its intake (e.g. the download endpoint); called with the other intake. */
  stop?(): Promise<void>;
}

/** Builds the firmware registry on the shared db, bus and logger. */
export type FirmwareModuleFactory = (args: {
  config: OtaConfig;
  db: Kysely<DB>;
  bus: Bus;
  logger: Logger;
  metrics: Metrics;
  notifyOutbox: () => void;
}) => Promise<FirmwareModule>;

/** Optional collaborators. */
export interface OtaDeps {
  /** Logger (default: a pino logger at LOG_LEVEL). */
  logger?: Logger;
  /** Metrics registry (default: a new one). */
  metrics?: Metrics;
  /** Create/update the JetStream streams at start (default false). */
  ensureStreams?: boolean;
  /** The firmware registry (default: the real one). */
  firmware?: FirmwareModuleFactory;
  /** Clock (tests). */
  now?: () => Date;
}

/** A running orchestrator. */
export interface OtaOrchestrator {
  /** Stops everything in order (intake, drain, flush, close). */
  stop(): Promise<void>;
  /** Stops RPC, consumers and the rollout driver (waits for in-flight work). */
  stopIntake(): Promise<void>;
  /** Publishes what is left in the outbox and stops the relay. */
  flush(): Promise<void>;
  /** Closes NATS and the pool. */
  close(): Promise<void>;
  /** Readiness checks for /readyz. */
  checks: Record<string, () => Promise<boolean>>;
  /** The metrics registry. */
  metrics: Metrics;
  /** The use-case context (tests). */
  ctx: RolloutContext;
}

function resolveConfig(config: OtaAppConfig): OtaConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) if (v !== undefined) env[k] = String(v);
  return loadConfig(OtaConfigSchema, env);
}

/** Starts the orchestrator; resolves once RPC and the driver run. */
export async function startOtaOrchestrator(
  appConfig: OtaAppConfig,
  deps: OtaDeps = {},
): Promise<OtaOrchestrator> {
  const config = resolveConfig(appConfig);
  const logger = deps.logger ?? createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics({ service: SERVICE_NAME });
  const db = createDb<DB>({
    url: config.DATABASE_URL,
    schema: config.DB_SCHEMA,
    poolMin: 1,
    poolMax: config.DB_POOL_MAX,
    applicationName: SERVICE_NAME,
    logger,
  });
  await migrate(db as unknown as Kysely<unknown>, {
    schema: config.DB_SCHEMA,
    migrations: otaMigrations,
  });
  const bus = await connectBus({
    url: config.NATS_URL,
    name: SERVICE_NAME,
    logger,
    namespace: config.DROVER_NAMESPACE,
    replicas: config.NATS_REPLICAS,
  });
  if (deps.ensureStreams ?? false) await ensureStreams(bus);
  const relay = startOutboxRelay({
    db,
    bus,
    logger,
    pollMs: config.OUTBOX_POLL_MS,
    retentionMs: config.OUTBOX_RETENTION_MS,
  });
  const notifyOutbox = () => relay.notify();

  const firmware = await (deps.firmware ?? createFirmwareModule)({
    config,
    db,
    bus,
    logger,
    metrics,
    notifyOutbox,
  });
  const shared: OtaContext = {
    db,
    bus,
    naming: bus.naming,
    logger,
    now: deps.now ?? (() => new Date()),
    notifyOutbox,
    catalog: firmware.catalog,
  };
  let driver: Driver | null = null;
  const ctx: RolloutContext = {
    ...shared,
    settings: {
      tickMs: config.ROLLOUT_TICK_MS,
      leaseMs: config.ROLLOUT_LEASE_MS,
      ratePerS: config.ROLLOUT_DISPATCH_RATE_PER_S,
      dispatchConcurrency: config.ROLLOUT_DISPATCH_CONCURRENCY,
      downloadTtlS: config.ROLLOUT_DOWNLOAD_URL_TTL_S,
    },
    directory: registryDirectory(bus, { targetPageSize: config.ROLLOUT_TARGET_PAGE_SIZE }),
    commands: gatewaySender(bus),
    owner: `${hostname()}-${process.pid}-${ulid()}`,
    hint: () => driver?.hint(),
    metrics: rolloutMetrics(metrics),
  };
  const consumers: Consumer[] = await startRolloutConsumers(bus, ctx, config.CONSUMER_CONCURRENCY);
  driver = startDriver(ctx);
  const rpc: RpcServer = await startOtaRpc(bus, [
    firmware.endpoints,
    deploymentEndpoints(ctx),
    rehearsalEndpoints(ctx),
  ]);

  let intakeStopped: Promise<void> | null = null;
  let flushed: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  const stopIntake = () =>
    (intakeStopped ??= (async () => {
      await rpc.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await driver?.stop();
      await firmware.stop?.();
    })());
  const flush = () =>
    (flushed ??= (async () => {
      await relay.stop();
      await relay.flushOnce();
    })());
  const close = () =>
    (closed ??= (async () => {
      await bus.drain();
      await db.destroy();
    })());

  logger.info({ event: 'ota_orchestrator.started', namespace: config.DROVER_NAMESPACE }, 'up');
  return {
    stopIntake,
    flush,
    close,
    stop: async () => {
      await stopIntake();
      await flush();
      await close();
    },
    checks: {
      db: async () => {
        await sql`select 1`.execute(db);
        return true;
      },
      nats: BusHealth(bus),
    },
    metrics,
    ctx,
  };
}
