// Environment of the device registry, validated at start (fail fast with the variable's name).
import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';

/** The registry's environment schema. */
export const RegistryConfigSchema = Type.Object({
  ...CommonConfig,
  DB_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'device_registry' }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  CACHE_TTL_S: Type.Integer({ minimum: 1, maximum: 3600, default: 30 }),
  CACHE_REFRESH_INTERVAL_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  CACHE_REFRESH_BELOW_TTL_S: Type.Integer({ minimum: 1, default: 10 }),
  LAST_SEEN_COALESCE_S: Type.Integer({ minimum: 0, maximum: 3600, default: 60 }),
  CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 16 }),
  // Presence is applied in batches (service/presence-batcher.ts): its handlers hold no
  // connection, so many may wait for their batch.
  PRESENCE_CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1024, default: 256 }),
  PRESENCE_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 256 }),
  PRESENCE_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 16, default: 2 }),
  OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 250 }),
  // Outbox publishes awaiting their stream ack at once, at most one per device: a device's
  // events stay in order even when a publish fails, and a reconnect storm's events go out in
  // parallel (docs/benchmarks.md). 1 publishes one after another.
  OUTBOX_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 1000, default: 128 }),
  // Sent outbox rows are deleted once older than this (0 keeps them).
  OUTBOX_RETENTION_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),
});
/** The registry's parsed configuration. */
export type RegistryConfig = Static<typeof RegistryConfigSchema>;

/** Reads and checks the environment. */
export function loadRegistryConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(RegistryConfigSchema, env);
}
