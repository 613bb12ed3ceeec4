// Environment of the OTA orchestrator (firmware registry + rollout engine), validated at start
// (fail fast with the variable's name).
import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';

/** The orchestrator's environment schema. */
export const OtaConfigSchema = Type.Object({
  ...CommonConfig,
  // Redis is not used: deployments, timers and leases live in Postgres.
  REDIS_URL: Type.Optional(Type.String()),
  DB_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'ota_orchestrator' }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 200, default: 20 }),
  CONSUMER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 256, default: 8 }),
  OUTBOX_POLL_MS: Type.Integer({ minimum: 10, default: 250 }),
  // Sent outbox rows are deleted once older than this (0 keeps them).
  OUTBOX_RETENTION_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),

  // --- rollout engine ---
  // Upper bound of the driver's sleep (it wakes earlier for the earliest due deployment).
  ROLLOUT_TICK_MS: Type.Integer({ minimum: 10, default: 1000 }),
  // How long a replica holds a deployment's lease while driving it.
  ROLLOUT_LEASE_MS: Type.Integer({ minimum: 1000, default: 30_000 }),
  // firmware.update / firmware.rollback commands per second per deployment.
  ROLLOUT_DISPATCH_RATE_PER_S: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
  // Concurrent create_command calls while dispatching.
  ROLLOUT_DISPATCH_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 512, default: 32 }),
  // Devices per list_device_targets page when a deployment's target is read (registry max 5,000).
  ROLLOUT_TARGET_PAGE_SIZE: Type.Integer({ minimum: 1, maximum: 5000, default: 5000 }),
  // Lifetime of the download URL given to a device.
  ROLLOUT_DOWNLOAD_URL_TTL_S: Type.Integer({ minimum: 60, default: 24 * 3600 }),

  // --- firmware registry (used by src/firmware/**) ---
  // JSON object key id → ed25519 public key (PEM or base64 raw/SPKI).
  FIRMWARE_TRUSTED_KEYS: Type.Optional(Type.String()),
  FIRMWARE_ARTIFACT_STORE: Type.Union([Type.Literal('local'), Type.Literal('s3')], {
    default: 'local',
  }),
  FIRMWARE_ARTIFACT_DIR: Type.String({ default: '.drover/firmware' }),
  FIRMWARE_S3_BUCKET: Type.Optional(Type.String()),
  FIRMWARE_S3_REGION: Type.Optional(Type.String()),
  FIRMWARE_S3_ENDPOINT: Type.Optional(Type.String()),
  FIRMWARE_HTTP_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8090 }),
  FIRMWARE_PUBLIC_URL: Type.Optional(Type.String()),
  FIRMWARE_URL_SECRET: Type.Optional(Type.String()),
  FIRMWARE_SIGSTORE_TRUSTED_ROOT: Type.Optional(Type.String()),
  // Expected Sigstore signer identity (subject alternative name, or /regex/); any when unset.
  FIRMWARE_SIGSTORE_IDENTITY: Type.Optional(Type.String()),
  // Largest image registered (bytes); the signature check reads an image into memory once.
  FIRMWARE_MAX_BYTES: Type.Integer({ minimum: 1, maximum: 2 ** 31, default: 512 * 1024 * 1024 }),
  // Timeout of fetching an image given by `url`.
  FIRMWARE_FETCH_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10 * 60_000 }),
  // Where the S3 store stages uploads before it puts them (default: the OS temp directory).
  FIRMWARE_STAGING_DIR: Type.Optional(Type.String()),
  // Key prefix of images in the S3 bucket.
  FIRMWARE_S3_PREFIX: Type.String({ default: 'firmware/' }),
});
/** The orchestrator's parsed configuration. */
export type OtaConfig = Static<typeof OtaConfigSchema>;

/** Reads and checks the environment. */
export function loadOtaConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(OtaConfigSchema, env);
}
