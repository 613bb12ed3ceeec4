// Builds the whole registry (db + migrations, bus, redis, outbox relay, consumers, RPC) so
// main.ts and other services' tests (gateway, ingress) can run the real thing in-process.
import { Redis } from 'ioredis';
import { type Kysely, sql } from 'kysely';
import {
  BusHealth,
  connectBus,
  type Consumer,
  ensureStreams,
  type RpcServer,
  startOutboxRelay,
} from '@drover/bus';
import { createDb, migrate } from '@drover/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@drover/observability';
import { loadConfig } from '@drover/service-kit';
import { RegistryConfigSchema, type RegistryConfig } from './config';
import { registryMigrations } from './adapters/postgres/migrations';
import { type DB } from './adapters/postgres/schema';
import { startDeviceTrafficConsumers } from './adapters/nats/device-traffic.consumer';
import { startProvisioningConsumer } from './adapters/nats/provisioning.consumer';
import { createDeviceCache } from './adapters/redis/device.cache';
import { startRegistryRpc } from './rpc/registry.rpc-server';
import { loadDeviceCached } from './service/device.service';
import { createPresenceBatcher } from './service/presence-batcher';
import { type RegistryContext, SERVICE_NAME } from './service/registry.context';

/** The required settings plus any of the optional ones (defaults from the config schema). */
export type RegistryAppConfig = Pick<RegistryConfig, 'NATS_URL' | 'DATABASE_URL' | 'REDIS_URL'> &
  Partial<RegistryConfig>;

/** Optional collaborators (tests pass their own logger or clock). */
export interface RegistryDeps {
  /** Logger (default: a pino logger at LOG_LEVEL). */
  logger?: Logger;
  /** Metrics registry (default: a new one). */
  metrics?: Metrics;
  /** Clock. */
  now?: () => Date;
  /** Create/update the JetStream streams at start (default false: tests own theirs). */
  ensureStreams?: boolean;
}

/** A running registry. */
export interface DeviceRegistry {
  /** Stops everything in order (intake, drain, flush, close). */
  stop(): Promise<void>;
  /** Stops RPC and consumers (waits for in-flight handlers). */
  stopIntake(): Promise<void>;
  /** Publishes what is left in the outbox and stops the relay. */
  flush(): Promise<void>;
  /** Closes NATS, Redis and the pool. */
  close(): Promise<void>;
  /** Readiness checks for /readyz. */
  checks: Record<string, () => Promise<boolean>>;
  /** The metrics registry. */
  metrics: Metrics;
  /** The use-case context (tests). */
  ctx: RegistryContext;
}

function resolveConfig(config: RegistryAppConfig): RegistryConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) if (v !== undefined) env[k] = String(v);
  return loadConfig(RegistryConfigSchema, env);
}

function redisHealth(redis: Redis): () => Promise<boolean> {
  return async () => {
    try {
      return (await redis.ping()) === 'PONG';
    } catch (err) {
      void err; // the readiness body reports the failure; no need to log every probe
      return false;
    }
  };
}

/** Starts the device registry; resolves once RPC and consumers are serving. */
export async function startDeviceRegistry(
  appConfig: RegistryAppConfig,
  deps: RegistryDeps = {},
): Promise<DeviceRegistry> {
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
    migrations: registryMigrations,
  });

  const bus = await connectBus({
    url: config.NATS_URL,
    name: SERVICE_NAME,
    logger,
    namespace: config.DROVER_NAMESPACE,
    replicas: config.NATS_REPLICAS,
  });
  if (deps.ensureStreams ?? false) await ensureStreams(bus);

  // No offline queue and a short command timeout: with Redis down every cache call fails at
  // once and the registry answers from Postgres. Auto-pipelining sends the cache calls of one
  // event-loop turn in one socket write (a write costs more than the command itself here).
  const redis = new Redis(config.REDIS_URL, {
    enableAutoPipelining: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 500,
    connectTimeout: 2000,
    lazyConnect: true,
  });
  redis.on('error', (err: Error) => logger.debug({ event: 'cache.redis_error', err: err.message }));
  await redis.connect().catch((err: unknown) => {
    logger.warn({ event: 'cache.redis_unavailable', err: String(err) }, 'starting without cache');
  });

  const cacheResults = metrics.counter('registry_cache_total', 'Device cache lookups', ['result']);
  const cache = createDeviceCache({
    redis,
    naming: bus.naming,
    logger,
    ttlSeconds: config.CACHE_TTL_S,
    refreshBelowSeconds: config.CACHE_REFRESH_BELOW_TTL_S,
    // "Accessed recently" = within one TTL (at least two refresh rounds), so a key read once
    // stays warm for as long as an entry would have lived anyway.
    hotWindowMs: Math.max(2 * config.CACHE_REFRESH_INTERVAL_MS, config.CACHE_TTL_S * 1000),
    onResult: (result) => cacheResults.inc({ result }),
  });

  const relay = startOutboxRelay({
    db,
    bus,
    logger,
    pollMs: config.OUTBOX_POLL_MS,
    retentionMs: config.OUTBOX_RETENTION_MS,
    maxInFlight: config.OUTBOX_MAX_IN_FLIGHT,
  });
  const ctx: RegistryContext = {
    db,
    naming: bus.naming,
    cache,
    notifyOutbox: () => relay.notify(),
    logger,
    coalesceMs: config.LAST_SEEN_COALESCE_S * 1000,
    now: deps.now ?? (() => new Date()),
  };

  const traffic = metrics.counter('registry_device_messages_total', 'DEVICE stream messages', [
    'kind',
    'outcome',
  ]);
  const consumers: Consumer[] = await startDeviceTrafficConsumers({
    bus,
    ctx,
    logger,
    concurrency: config.CONSUMER_CONCURRENCY,
    presence: createPresenceBatcher(ctx, {
      max: config.PRESENCE_BATCH_MAX,
      concurrency: config.PRESENCE_BATCH_CONCURRENCY,
    }),
    presenceConcurrency: config.PRESENCE_CONSUMER_CONCURRENCY,
    onOutcome: (kind, outcome) => traffic.inc({ kind, outcome }),
  });
  consumers.push(
    await startProvisioningConsumer({ bus, ctx, logger, concurrency: config.CONSUMER_CONCURRENCY }),
  );
  const rpcSeconds = metrics.histogram('registry_rpc_seconds', 'RPC handling time', [
    'op',
    'outcome',
  ]);
  const rpc: RpcServer = await startRegistryRpc(bus, ctx, logger, (op, outcome, s) =>
    rpcSeconds.observe({ op, outcome }, s),
  );

  const refresher = setInterval(() => {
    void cache
      .refreshHot(async (key) => {
        try {
          return await loadDeviceCachedFromDb(ctx, key.tenant, key.deviceId);
        } catch (err) {
          // A failed read says nothing about the device: keep the entry until its TTL.
          logger.debug({ event: 'cache.refresh_skipped', err: String(err) });
          return null;
        }
      })
      .catch((err: unknown) => logger.warn({ event: 'cache.refresh_failed', err: String(err) }));
  }, config.CACHE_REFRESH_INTERVAL_MS);
  refresher.unref();

  let intakeStopped: Promise<void> | null = null;
  let flushed: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  const stopIntake = () =>
    (intakeStopped ??= (async () => {
      clearInterval(refresher);
      await rpc.stop();
      await Promise.all(consumers.map((c) => c.stop()));
    })());
  const flush = () =>
    (flushed ??= (async () => {
      await relay.stop();
      // One last pass: rows committed by handlers that finished during the drain. If NATS is
      // gone the rows stay in the outbox and the next start publishes them (at least once).
      await relay.flushOnce().catch((err: unknown) => {
        logger.warn({ event: 'registry.outbox_left', err: String(err) }, 'outbox not flushed');
      });
    })());
  const close = () =>
    (closed ??= (async () => {
      cache.close();
      await bus.drain();
      await redis.quit().catch((err: unknown) => {
        logger.debug({ event: 'cache.quit_failed', err: String(err) });
        redis.disconnect();
      });
      await db.destroy();
    })());

  logger.info({ event: 'registry.started', namespace: config.DROVER_NAMESPACE }, 'registry up');
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
      redis: redisHealth(redis),
    },
    metrics,
    ctx,
  };
}

async function loadDeviceCachedFromDb(ctx: RegistryContext, tenant: string, deviceId: string) {
  // Straight from Postgres: the refresher must not read the cache it is refreshing.
  return loadDeviceCached({ ...ctx, cache: noCache }, tenant, deviceId);
}

const noCache: RegistryContext['cache'] = {
  get: async () => undefined,
  set: async () => undefined,
  invalidate: async () => undefined,
  refreshHot: async () => 0,
  keyOf: () => '',
  close: () => undefined,
};
