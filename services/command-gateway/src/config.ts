// Environment of the command gateway, validated at start (fail fast with the variable's name).
import { type Static, Type } from '@sinclair/typebox';
import { COMMAND_LIMITS } from '@drover/contracts';
import { CommonConfig, loadConfig } from '@drover/service-kit';

/** The gateway's environment schema. */
export const GatewayConfigSchema = Type.Object({
  ...CommonConfig,
  // Redis is not used: timers, idempotency and presence live in Postgres.
  REDIS_URL: Type.Optional(Type.String()),
  DB_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'command_gateway' }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  // Handlers of the consumer of the ingress's dead letters.
  CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 32 }),
  // Handlers of the presence consumer: each waits for its presence's batch, holding nothing.
  PRESENCE_CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 4096, default: 256 }),
  // Presences stored per batch at most (one upsert and one read for waiting commands).
  PRESENCE_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 10_000, default: 256 }),
  // Presence batches in flight at once (one pool connection each at a time).
  PRESENCE_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 2 }),
  // Handlers of the `cmd_res` and `cmd_sent` consumers each. A handler waits for its report's
  // batch and holds no connection, so many of them let batches fill (the consumer pulls only as
  // many messages as it has free handlers).
  REPORT_CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 4096, default: 256 }),
  // Reports applied per batch at most (one read and one write statement per batch).
  REPORT_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 10_000, default: 256 }),
  // Extra wait before a batch that is not full is flushed (0: at the end of the event-loop turn).
  REPORT_BATCH_WAIT_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 0 }),
  // How long a command's broker ack or `accepted` waits for its next report, to be written with
  // it (0: each is written at once). A final answer is never held and releases what waits.
  REPORT_HOLD_MS: Type.Integer({ minimum: 0, maximum: 1000, default: 10 }),
  // Open commands kept as this gateway last wrote them, so their reports skip the read
  // (0: every report batch reads its rows). About 1 KB each.
  REPORT_ROW_CACHE_MAX: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 20_000 }),
  // Batches reading or writing at once (one pool connection each at a time; keep < DB_POOL_MAX).
  REPORT_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  // Single creates without an Idempotency-Key inserted per batch at most (one statement and one
  // commit per batch and tenant; 1 = one statement per create).
  CREATE_BATCH_MAX: Type.Integer({ minimum: 1, maximum: 500, default: 256 }),
  // Create batches writing at once (one pool connection each; keep < DB_POOL_MAX).
  CREATE_BATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  // Device meta cache age limit; device events drop entries at once (0 = no cache).
  DEVICE_META_TTL_MS: Type.Integer({ minimum: 0, default: 300_000 }),
  OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 250 }),
  // Acked outbox rows are deleted at once (true) or marked sent and deleted once older than
  // OUTBOX_RETENTION_MS (false). The gateway never looks a sent row up again, and marking cost
  // a new version of every row (a third of the gateway's WAL at 1,000 commands/s).
  OUTBOX_DELETE_SENT: Type.Boolean({ default: true }),
  // With OUTBOX_DELETE_SENT=false: sent rows are deleted once older than this (0 keeps them).
  OUTBOX_RETENTION_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),
  // Outbox publishes awaiting their stream ack at once (1 = one after another).
  OUTBOX_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 1000, default: 128 }),
  // A decommissioned device's waiting commands are withdrawn at the event and once more this
  // long after it: a command created as the device was decommissioned may commit after the
  // first pass (the create path refuses the device by the second).
  DECOMMISSION_RECHECK_MS: Type.Integer({ minimum: 100, maximum: 600_000, default: 5_000 }),
  // Upper bound of the scanner's sleep (it wakes earlier for the earliest due row).
  SCAN_MAX_SLEEP_MS: Type.Integer({ minimum: 10, default: 1000 }),
  RESEND_BASE_MS: Type.Integer({ minimum: 10, default: 2000 }),
  // How long after a hand-over the ingress's broker-ack report (cmd_sent) may take. The time-out
  // runs from that report (sent_at + timeout_s); until it lands the deadline is the hand-over +
  // timeout_s + this grace, so a slow report never times a command out early.
  SENT_REPORT_GRACE_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 10_000 }),
  RESEND_MAX_MS: Type.Integer({ minimum: 10, default: 60_000 }),
  DEFAULT_TIMEOUT_S: Type.Integer({
    minimum: COMMAND_LIMITS.timeoutS.min,
    maximum: COMMAND_LIMITS.timeoutS.max,
    default: COMMAND_LIMITS.timeoutS.default,
  }),
  DEFAULT_EXPIRES_IN_S: Type.Integer({
    minimum: COMMAND_LIMITS.expiresInS.min,
    default: COMMAND_LIMITS.expiresInS.default,
  }),
  DEFAULT_GROUP_RATE_PER_S: Type.Integer({
    minimum: 1,
    default: COMMAND_LIMITS.groupRatePerS.default,
  }),
});
/** The gateway's parsed configuration. */
export type GatewayConfig = Static<typeof GatewayConfigSchema>;

/** Reads and checks the environment. */
export function loadGatewayConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(GatewayConfigSchema, env);
}
