// Builds the whole gateway (db + migrations, bus, outbox relay, consumers, scanner, RPC) so
// main.ts and tests run the real thing in-process.
import { type Kysely, sql } from 'kysely';
import { LRUCache } from 'lru-cache';
import {
  BusHealth,
  connectBus,
  type Consumer,
  type EagerStats,
  ensureStreams,
  rpcRequest,
  type RpcServer,
  startOutboxRelay,
  watchDeviceChanges,
} from '@drover/bus';
import {
  DEVICE_META_FIELDS,
  DEVICE_REGISTRY_SERVICE,
  type DeviceList,
  type DevicesMeta,
  type DeviceMeta,
  DeviceRegistryOps,
} from '@drover/contracts';
import { createDb, migrate } from '@drover/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@drover/observability';
import { loadConfig } from '@drover/service-kit';
import { type GatewayConfig, GatewayConfigSchema } from './config';
import { commandMigrations } from './adapters/postgres/migrations';
import { type DB } from './adapters/postgres/schema';
import { onlineDevicesPage } from './adapters/postgres/presence.repository';
import { startTrafficConsumers } from './adapters/nats/device-traffic.consumer';
import { startDeviceLifecycleConsumer } from './adapters/nats/device-lifecycle.consumer';
import { commandMetrics } from './command.metrics';
import { startCommandRpc } from './rpc/command.rpc-server';
import { type GatewayContext, SERVICE_NAME } from './service/gateway.context';
import { CreateBatcher } from './service/create-batcher';
import { DeviceMetaLoader, warmDeviceMeta } from './service/device-meta.loader';
import { ReportBatcher } from './service/report-batcher';
import { RowCache } from './service/row-cache';
import { type Scanner, startScanner } from './service/scanner';
import { createPresenceBatcher } from './service/traffic.service';

/** The required settings plus any of the optional ones (defaults from the config schema). */
export type GatewayAppConfig = Pick<GatewayConfig, 'NATS_URL' | 'DATABASE_URL'> &
  Partial<GatewayConfig>;

/** Optional collaborators. */
export interface GatewayDeps {
  /** Logger (default: a pino logger at LOG_LEVEL). */
  logger?: Logger;
  /** Metrics registry (default: a new one). */
  metrics?: Metrics;
  /** Create/update the JetStream streams at start (default false). */
  ensureStreams?: boolean;
}

/** A running command gateway. */
export interface CommandGateway {
  /** Stops everything in order (intake, drain, flush, close). */
  stop(): Promise<void>;
  /** Stops RPC, consumers and the scanner (waits for in-flight work). */
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
  ctx: GatewayContext;
  /** The scanner (tests). */
  scanner: Scanner;
  /** The device report batcher (tests: counters and hooks). */
  reports: ReportBatcher;
  /** The create batcher (tests). */
  creates: CreateBatcher;
  /** Device-meta lookups (tests). */
  metaLoader: DeviceMetaLoader;
  /** Eager outbox publishing counters (tests, benchmarks). */
  outboxStats: EagerStats;
}

function resolveConfig(config: GatewayAppConfig): GatewayConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) if (v !== undefined) env[k] = String(v);
  return loadConfig(GatewayConfigSchema, env);
}

/** Starts the command gateway; resolves once RPC, consumers and the scanner run. */
export async function startCommandGateway(
  appConfig: GatewayAppConfig,
  deps: GatewayDeps = {},
): Promise<CommandGateway> {
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
    migrations: commandMigrations,
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
    deleteSent: config.OUTBOX_DELETE_SENT,
    // Creates and device reports write one batch row per statement.
    batches: true,
    batchSize: 500,
    maxInFlight: config.OUTBOX_MAX_IN_FLIGHT,
  });

  let scanner: Scanner | null = null;
  // Device meta changes rarely (type, decommissioning): a cache spares the registry one RPC per
  // command. The registry's device events drop an entry the moment it changes (a lost
  // subscription drops them all), so the TTL is only the safety net.
  const metaCache = new LRUCache<string, { deviceType: string; status: string }>({
    max: 100_000,
    ttl: config.DEVICE_META_TTL_MS,
  });
  const metaLoader = new DeviceMetaLoader(
    config.DEVICE_META_TTL_MS > 0 ? metaCache : null,
    async (tenant, ids) => {
      const res = await rpcRequest<DevicesMeta>(
        bus,
        DEVICE_REGISTRY_SERVICE,
        DeviceRegistryOps.getDevicesMeta,
        { tenant, device_ids: ids },
      );
      return new Map(
        res.items.map((m) => [m.device_id, { deviceType: m.device_type, status: m.status }]),
      );
    },
    async (tenant, deviceId) => {
      const meta = await rpcRequest<DeviceMeta>(
        bus,
        DEVICE_REGISTRY_SERVICE,
        DeviceRegistryOps.getDeviceMeta,
        { tenant, device_id: deviceId },
      );
      return { deviceType: meta.device_type, status: meta.status };
    },
  );
  const ctx: GatewayContext = {
    db,
    naming: bus.naming,
    logger,
    now: () => new Date(),
    random: Math.random,
    notifyOutbox: () => relay.notify(),
    publishAfterCommit: (rows, write, written) => relay.publishAfterCommit(rows, write, written),
    hint: (at) => scanner?.hint(at),
    deviceMeta: (tenant, deviceId) => metaLoader.get(tenant, deviceId),
    prefetchDeviceMeta: (tenant, deviceIds) => metaLoader.prefetch(tenant, deviceIds),
    groupDevices: async (tenant, groupId) => {
      const out: { deviceId: string; deviceType: string }[] = [];
      let cursor: string | null = null;
      do {
        const page: DeviceList = await rpcRequest<DeviceList>(
          bus,
          DEVICE_REGISTRY_SERVICE,
          DeviceRegistryOps.listGroupDevices,
          { tenant, group_id: groupId, limit: 500, ...(cursor !== null && { cursor }) },
        );
        for (const d of page.items) {
          if (d.status === 'active') out.push({ deviceId: d.device_id, deviceType: d.device_type });
        }
        cursor = page.next_cursor;
      } while (cursor !== null);
      return out;
    },
    backoff: { baseMs: config.RESEND_BASE_MS, maxMs: config.RESEND_MAX_MS },
    sentReportGraceMs: config.SENT_REPORT_GRACE_MS,
    rowCache: new RowCache(config.REPORT_ROW_CACHE_MAX),
    defaults: {
      timeoutS: config.DEFAULT_TIMEOUT_S,
      expiresInS: config.DEFAULT_EXPIRES_IN_S,
      groupRatePerS: config.DEFAULT_GROUP_RATE_PER_S,
    },
    metrics: commandMetrics(metrics),
  };
  const creates = new CreateBatcher(ctx, {
    maxBatch: config.CREATE_BATCH_MAX,
    maxInFlight: config.CREATE_BATCH_CONCURRENCY,
  });
  if (config.CREATE_BATCH_MAX > 1) ctx.createBatch = (tenant, row) => creates.submit(tenant, row);
  const reports = new ReportBatcher(ctx, {
    maxBatch: config.REPORT_BATCH_MAX,
    waitMs: config.REPORT_BATCH_WAIT_MS,
    holdMs: config.REPORT_HOLD_MS,
    maxInFlight: config.REPORT_BATCH_CONCURRENCY,
  });
  const metaWatch = watchDeviceChanges(
    bus,
    {
      onChange: ({ tenant, deviceId }) => metaLoader.forget(tenant, deviceId),
      onLost: (reason) => {
        metaLoader.forgetAll();
        logger.warn({ event: 'meta_cache.events_lost', reason }, 'device meta cache cleared');
      },
    },
    { fields: DEVICE_META_FIELDS },
  );
  const presences = createPresenceBatcher(ctx, {
    max: config.PRESENCE_BATCH_MAX,
    concurrency: config.PRESENCE_BATCH_CONCURRENCY,
  });
  const consumers: Consumer[] = await startTrafficConsumers(bus, ctx, reports, presences, {
    concurrency: config.CONSUMER_CONCURRENCY,
    presenceConcurrency: config.PRESENCE_CONSUMER_CONCURRENCY,
    reportConcurrency: config.REPORT_CONSUMER_CONCURRENCY,
  });
  consumers.push(
    await startDeviceLifecycleConsumer(bus, ctx, { recheckMs: config.DECOMMISSION_RECHECK_MS }),
  );
  scanner = startScanner(ctx, config.SCAN_MAX_SLEEP_MS);
  const rpc: RpcServer = await startCommandRpc(bus, ctx);
  // Devices online already get their meta cached in the background, as connects do.
  let stopping = false;
  const warming = warmDeviceMeta(
    metaLoader,
    (after, limit) => onlineDevicesPage(db, after, limit),
    () => stopping,
  ).then(
    (devices) => logger.info({ event: 'meta_cache.warmed', devices }, 'device meta prefetched'),
    (err: unknown) =>
      logger.warn({ event: 'meta_cache.warm_failed', err: String(err) }, 'meta not prefetched'),
  );

  let intakeStopped: Promise<void> | null = null;
  let flushed: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  const stopIntake = () =>
    (intakeStopped ??= (async () => {
      stopping = true;
      await rpc.stop();
      await warming;
      metaWatch.stop();
      await Promise.all(consumers.map((c) => c.stop()));
      await scanner?.stop();
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

  logger.info({ event: 'command_gateway.started', namespace: config.DROVER_NAMESPACE }, 'up');
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
    scanner,
    reports,
    creates,
    metaLoader,
    outboxStats: relay.eagerStats,
  };
}
