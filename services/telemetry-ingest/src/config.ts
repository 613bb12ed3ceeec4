import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';

/** Environment of telemetry-ingest. */
export const IngestConfigSchema = Type.Object({
  ...CommonConfig,
  DB_SCHEMA: Type.String({ default: 'telemetry', pattern: '^[a-z][a-z0-9_]{0,62}$' }),
  DB_POOL_MAX: Type.Integer({ default: 10, minimum: 1 }),
  // A batch is written when it holds this many rows or its oldest row waited this long.
  BATCH_MAX_ROWS: Type.Integer({ default: 2000, minimum: 1, maximum: 20000 }),
  BATCH_MAX_WAIT_MS: Type.Integer({ default: 50, minimum: 1 }),
  // Batches written at once while the next one fills.
  FLUSH_CONCURRENCY: Type.Integer({ default: 2, minimum: 1, maximum: 16 }),
  // JetStream redelivers an unacked message after this; a dead replica's rows come back then.
  ACK_WAIT_MS: Type.Integer({ default: 30000, minimum: 1000 }),
  RETENTION_DAYS: Type.Integer({ default: 90, minimum: 1 }),
  PARTITIONS_AHEAD_DAYS: Type.Integer({ default: 3, minimum: 1 }),
  MAINTENANCE_INTERVAL_MS: Type.Integer({ default: 3600000, minimum: 1000 }),
  LATEST_TTL_S: Type.Integer({ default: 7 * 24 * 3600, minimum: 1 }),
  RPC_ENABLED: Type.Boolean({ default: true }),
  // Create/update the streams at start (idempotent); off where a setup step owns them.
  ENSURE_STREAMS: Type.Boolean({ default: true }),
  TELEMETRY_STREAM_MAX_BYTES: Type.Optional(Type.Integer({ minimum: 1048576 })),
});

/** Validated configuration. */
export type IngestConfig = Static<typeof IngestConfigSchema>;

/** Reads and validates the environment; throws a ConfigError naming each bad variable. */
export function loadIngestConfig(env: NodeJS.ProcessEnv = process.env): IngestConfig {
  return loadConfig(IngestConfigSchema, env);
}
