// Builds the whole provisioning service (db + migrations, PKI, cloud provider, bus, outbox
// relay, consumers, RPC, expiry-scan timer) so main.ts and other services' tests can run it
// in-process.
import { randomBytes } from 'node:crypto';
import { type Kysely, sql } from 'kysely';
import { BusHealth, connectBus, type Consumer, ensureStreams, startOutboxRelay } from '@drover/bus';
import { createDb, migrate } from '@drover/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@drover/observability';
import {
  EnvSecretStore,
  FileSecretStore,
  type FleetPki,
  loadOrCreatePki,
  type SecretStore,
} from '@drover/pki';
import { loadConfig } from '@drover/service-kit';
import { type CloudProvider } from './adapters/cloud/cloud-provider';
import { createCloudProvider } from './adapters/cloud/cloud-provider.factory';
import { createResultCipher, loadResultKey } from './adapters/crypto/result-cipher';
import { crlFileWriter } from './adapters/fs/crl.file';
import { createCommandRequester } from './adapters/nats/command.requester';
import { startProvisioningConsumers } from './adapters/nats/provisioning.consumers';
import { provisioningMigrations } from './adapters/postgres/migrations';
import { type DB } from './adapters/postgres/schema';
import { ProvisioningConfigSchema, type ProvisioningConfig } from './config';
import { startProvisioningRpc } from './rpc/provisioning.rpc-server';
import { runExpiryScanIfDue, type ScanReport } from './service/expiry-scan.service';
import { type ProvisioningContext, SERVICE_NAME } from './service/provisioning.context';
import { regenerateCrl } from './service/revocation.service';
import { enqueueRotateCommand } from './service/certificate.service';

/** Outbox publishes awaiting their stream ack at once. */
const OUTBOX_MAX_IN_FLIGHT = 64;

/** The required settings plus any of the optional ones (defaults from the config schema). */
export type ProvisioningAppConfig = Pick<ProvisioningConfig, 'NATS_URL' | 'DATABASE_URL'> &
  Partial<ProvisioningConfig>;

/** Optional collaborators (tests pass their own logger, clock, PKI or cloud provider). */
export interface ProvisioningDeps {
  /** Logger (default: pino at LOG_LEVEL). */
  logger?: Logger;
  /** Metrics registry (default: a new one). */
  metrics?: Metrics;
  /** Clock. */
  now?: () => Date;
  /** The CAs (default: loaded or created from the configured secret store). */
  pki?: FleetPki;
  /** The cloud provider (default: from CLOUD_PROVIDER). */
  cloud?: CloudProvider;
  /** Key of the answer encryption (default: PROVISIONING_RESULT_KEY or the secret store). */
  resultKey?: Buffer;
  /** Create/update the JetStream streams at start (default false). */
  ensureStreams?: boolean;
}

/** A running provisioning service. */
export interface ProvisioningService {
  /** Stops everything in order (intake, drain, flush, close). */
  stop(): Promise<void>;
  /** Stops RPC, consumers and the timer (waits for in-flight handlers). */
  stopIntake(): Promise<void>;
  /** Publishes what is left in the outbox and stops the relay. */
  flush(): Promise<void>;
  /** Closes NATS and the pool. */
  close(): Promise<void>;
  /** Runs the expiry scan now if its timer row is due (tests; the timer does it otherwise). */
  scanNow(): Promise<ScanReport>;
  /** Readiness checks for /readyz. */
  checks: Record<string, () => Promise<boolean>>;
  /** The metrics registry. */
  metrics: Metrics;
  /** The use-case context (tests). */
  ctx: ProvisioningContext;
}

function resolveConfig(config: ProvisioningAppConfig): ProvisioningConfig {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(config)) if (v !== undefined) env[k] = String(v);
  return loadConfig(ProvisioningConfigSchema, env);
}

function secretStore(config: ProvisioningConfig): SecretStore {
  return config.PKI_SECRET_STORE === 'env'
    ? new EnvSecretStore(config.PKI_ENV_PREFIX)
    : new FileSecretStore(config.PKI_DIR);
}

/**
 * The key that encrypts stored answers: deps, PROVISIONING_RESULT_KEY, else the secret store.
 * A caller that injects its own PKI (tests) keeps the store untouched: without a configured
 * key it gets a throwaway one (answers then replay only within this process's life).
 */
async function resultKey(config: ProvisioningConfig, deps: ProvisioningDeps): Promise<Buffer> {
  if (deps.resultKey !== undefined) return deps.resultKey;
  if (deps.pki !== undefined && config.PROVISIONING_RESULT_KEY === undefined) {
    return randomBytes(32);
  }
  return loadResultKey(config.PROVISIONING_RESULT_KEY, secretStore(config));
}

/** Starts the provisioning service; resolves once RPC and consumers are serving. */
export async function startProvisioning(
  appConfig: ProvisioningAppConfig,
  deps: ProvisioningDeps = {},
): Promise<ProvisioningService> {
  const config = resolveConfig(appConfig);
  const logger = deps.logger ?? createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const metrics = deps.metrics ?? createMetrics({ service: SERVICE_NAME });
  const pki = deps.pki ?? (await loadOrCreatePki(secretStore(config)));
  const cloud = deps.cloud ?? createCloudProvider(config);
  const resultCipher = createResultCipher(await resultKey(config, deps));

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
    migrations: provisioningMigrations,
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
    // Pipelined publishes (in id order) instead of one stream ack after another: a burst of
    // provisionings leaves two events per device.
    maxInFlight: OUTBOX_MAX_IN_FLIGHT,
  });
  const ctx: ProvisioningContext = {
    db,
    naming: bus.naming,
    pki,
    cloud,
    commands: createCommandRequester({
      bus,
      expiresInS: config.ROTATE_COMMAND_TTL_S,
      logger,
      fallback: async (tenant, deviceId) => {
        const id = await db
          .transaction()
          .execute((trx) => enqueueRotateCommand(ctx, trx, tenant, deviceId));
        relay.notify();
        return id;
      },
    }),
    writeCrl: crlFileWriter(config.CRL_PATH),
    resultCipher,
    notifyOutbox: () => relay.notify(),
    logger,
    now: deps.now ?? (() => new Date()),
    settings: {
      certValidityDays: config.CERT_VALIDITY_DAYS,
      renewBeforeDays: config.CERT_RENEW_BEFORE_DAYS,
      rotateRetryMs: config.CERT_ROTATE_RETRY_HOURS * 3_600_000,
      rotateCommandTtlMs: config.ROTATE_COMMAND_TTL_S * 1000,
      crlValidityDays: config.CRL_VALIDITY_DAYS,
      resultRetentionMs: config.REQUEST_RESULT_RETENTION_HOURS * 3_600_000,
    },
  };
  // The broker needs a CRL file before the first revocation (crlfile must exist).
  await db.transaction().execute((trx) => regenerateCrl(ctx, trx));

  const consumers: Consumer[] = await startProvisioningConsumers({
    bus,
    ctx,
    logger,
    concurrency: config.CONSUMER_CONCURRENCY,
  });
  const rpcSeconds = metrics.histogram('provisioning_rpc_seconds', 'RPC handling time', [
    'op',
    'outcome',
  ]);
  const rpc = await startProvisioningRpc(bus, ctx, logger, (op, outcome, s) =>
    rpcSeconds.observe({ op, outcome }, s),
  );

  const scanNow = () => runExpiryScanIfDue(ctx, config.EXPIRY_SCAN_INTERVAL_MS);
  let scanning: Promise<unknown> = Promise.resolve();
  const timer = setInterval(() => {
    scanning = scanNow().catch((err: unknown) =>
      logger.warn({ event: 'certificate.expiry_scan_failed', err: String(err) }, 'scan failed'),
    );
  }, config.TIMER_POLL_MS);
  timer.unref();

  let intakeStopped: Promise<void> | null = null;
  let flushed: Promise<void> | null = null;
  let closed: Promise<void> | null = null;
  const stopIntake = () =>
    (intakeStopped ??= (async () => {
      clearInterval(timer);
      await scanning;
      await rpc.stop();
      await Promise.all(consumers.map((c) => c.stop()));
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

  logger.info({ event: 'provisioning.started', cloud: cloud.kind }, 'provisioning up');
  return {
    stopIntake,
    flush,
    close,
    stop: async () => {
      await stopIntake();
      await flush();
      await close();
    },
    scanNow,
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
