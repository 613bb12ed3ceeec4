// Composition of telemetry-ingest: migrations, partitions, the TELEMETRY consumer feeding the
// batch writer, the latest-values cache, query RPC and the ops server.
import { namespace, telemetryFilter } from '@drover/contracts';
import { BusHealth, connectBus, consume, ensureStreams, resolveStreamName } from '@drover/bus';
import { createDb, migrate } from '@drover/db';
import {
  type Logger,
  type Metrics,
  createLogger,
  createMetrics,
  startOpsServer,
} from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { sql } from 'kysely';
import { type IngestConfig } from './config';
import { partitionsAhead } from './domain/partitions';
import { type TelemetryRow, toTelemetryRows } from './domain/telemetry-record';
import { migrations, type TelemetryDb } from './adapters/postgres/telemetry.table';
import { createPartitions, dropExpiredPartitions } from './adapters/postgres/partition.maintenance';
import { createLatestStore } from './adapters/redis/latest.store';
import { serveTelemetryRpc } from './rpc/telemetry.rpc';
import { createBatchWriter } from './ingest/batch-writer';
import { createRowWriter } from './ingest/row-writer';
import { ingestMetrics } from './ingest.metrics';

/** Durable consumer name on TELEMETRY. */
export const INGEST_DURABLE = 'telemetry-ingest';

/** A running telemetry-ingest. */
export interface TelemetryIngest {
  /** Graceful stop: stop pulling, flush batches, close pools. */
  stop(): Promise<void>;
  /** Runs retention and create-ahead now (also on a timer). */
  maintain(): Promise<void>;
  /** The service's metrics. */
  metrics: Metrics;
  /** The ops server's port (0 when disabled). */
  opsPort: number;
}

/** Options beyond the environment. */
export interface StartOptions {
  /** Logger (default: pino at LOG_LEVEL). */
  logger?: Logger;
  /** Start the ops server (default true). */
  opsServer?: boolean;
}

/** Starts the service; resolves when it consumes. */
export async function startTelemetryIngest(
  config: IngestConfig,
  opts: StartOptions = {},
): Promise<TelemetryIngest> {
  const logger =
    opts.logger ?? createLogger({ service: 'telemetry-ingest', level: config.LOG_LEVEL });
  const metrics = createMetrics({ service: 'telemetry-ingest' });
  const series = ingestMetrics(metrics);
  const naming = namespace(config.DROVER_NAMESPACE);
  const schema = config.DB_SCHEMA;
  const db = createDb<TelemetryDb>({
    url: config.DATABASE_URL,
    schema,
    poolMin: 1,
    poolMax: config.DB_POOL_MAX,
    applicationName: 'telemetry-ingest',
    logger,
  });
  await migrate(db as never, { schema, migrations });
  const latest = createLatestStore(config.REDIS_URL, naming, config.LATEST_TTL_S);
  const bus = await connectBus({
    url: config.NATS_URL,
    name: 'telemetry-ingest',
    logger,
    namespace: config.DROVER_NAMESPACE,
    replicas: config.NATS_REPLICAS,
  });
  if (config.ENSURE_STREAMS) {
    await ensureStreams(bus, { telemetryMaxBytes: config.TELEMETRY_STREAM_MAX_BYTES });
  }

  const rowWriter = createRowWriter({
    db,
    latest,
    metrics: series,
    logger,
    retentionDays: config.RETENTION_DAYS,
  });
  const maintain = async () => {
    const ahead = partitionsAhead(Date.now(), config.PARTITIONS_AHEAD_DAYS);
    await createPartitions(db, ahead);
    rowWriter.knowPartitions(ahead.map((p) => p.name));
    const dropped = await dropExpiredPartitions(db, schema, Date.now(), config.RETENTION_DAYS);
    if (dropped.length > 0)
      logger.info({ event: 'telemetry.partitions_dropped', dropped }, 'retention');
  };
  await maintain();
  const maintenance = setInterval(() => {
    maintain().catch((err: unknown) =>
      logger.warn({ event: 'telemetry.maintenance_failed', err }, 'maintenance failed'),
    );
  }, config.MAINTENANCE_INTERVAL_MS);
  maintenance.unref();

  const batches = createBatchWriter<TelemetryRow>({
    maxRows: config.BATCH_MAX_ROWS,
    maxWaitMs: config.BATCH_MAX_WAIT_MS,
    concurrency: config.FLUSH_CONCURRENCY,
    write: (rows) => rowWriter.write(rows),
  });
  const consumer = await consume(bus, {
    stream: 'TELEMETRY',
    durable: INGEST_DURABLE,
    filterSubjects: [telemetryFilter(naming)],
    // Enough handlers waiting on commits to keep every batch slot full.
    concurrency: config.BATCH_MAX_ROWS * (config.FLUSH_CONCURRENCY + 1),
    maxDeliver: 20,
    ackWaitMs: config.ACK_WAIT_MS,
    fetchExpiresMs: 1000,
    logger,
    handler: async (msg) => {
      let parsed: ReturnType<typeof toTelemetryRows>;
      try {
        parsed = toTelemetryRows(msg.json());
      } catch (err) {
        series.messagesIn.inc();
        series.rejected.inc({ reason: 'bad_json' });
        throw new ValidationError('bad_json', `not JSON: ${String(err)}`);
      }
      const { rows, errors } = parsed;
      series.messagesIn.inc(rows.length + errors.length);
      // The valid rows of a batch are written even when a neighbour is bad; the message then
      // goes to the DLQ for the bad ones (a replay rewrites nothing: the unique key).
      if (rows.length > 0) {
        if (rows.length === 1) await batches.add(rows[0] as TelemetryRow);
        else await batches.addMany(rows);
      }
      if (errors.length > 0) {
        series.rejected.inc({ reason: 'invalid' }, errors.length);
        throw new ValidationError('invalid_telemetry', errors.slice(0, 5).join('; '));
      }
    },
  });

  const streamName = resolveStreamName(naming, 'TELEMETRY');
  const lagTimer = setInterval(() => {
    bus.jsm.consumers.info(streamName, INGEST_DURABLE).then(
      (info) => series.consumerPending.set(info.num_pending + info.num_ack_pending),
      (err: unknown) => logger.debug({ event: 'telemetry.lag_failed', err }, 'lag unknown'),
    );
  }, 5000);
  lagTimer.unref();

  const rpc = config.RPC_ENABLED ? await serveTelemetryRpc(bus, db, latest) : null;
  const ops =
    opts.opsServer === false
      ? null
      : await startOpsServer({
          port: config.OPS_PORT,
          registry: metrics.registry,
          checks: {
            nats: BusHealth(bus),
            postgres: async () => {
              await sql`SELECT 1`.execute(db);
              return true;
            },
          },
          logger,
        });
  logger.info({ event: 'telemetry.started', schema }, 'telemetry-ingest up');

  return {
    metrics,
    opsPort: ops?.port ?? 0,
    maintain,
    async stop() {
      clearInterval(maintenance);
      clearInterval(lagTimer);
      await rpc?.stop();
      // Stop pulling; in-flight handlers end when their batches commit (flush cuts the last).
      const stopped = consumer.stop();
      const abortTimer = setTimeout(() => rowWriter.abort(), 10000);
      await batches.flush();
      await stopped;
      clearTimeout(abortTimer);
      await ops?.close();
      await bus.drain();
      await latest.close();
      await db.destroy();
      logger.info({ event: 'telemetry.stopped' }, 'telemetry-ingest stopped');
    },
  };
}
