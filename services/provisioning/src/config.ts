// Environment of the provisioning service, validated at start (fail fast with the variable's name).
import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';

const Int = (min: number, def: number, max?: number) =>
  Type.Integer({ minimum: min, default: def, ...(max !== undefined && { maximum: max }) });

/** The provisioning service's environment schema. */
export const ProvisioningConfigSchema = Type.Object({
  ...CommonConfig,
  // The service keeps nothing in Redis.
  REDIS_URL: Type.Optional(Type.String()),
  DB_SCHEMA: Type.String({ pattern: '^[a-z_][a-z0-9_]{0,62}$', default: 'provisioning' }),
  DB_POOL_MAX: Int(1, 10, 200),
  OUTBOX_POLL_MS: Int(10, 250),
  // Sent outbox rows are deleted once older than this (0 keeps them).
  OUTBOX_RETENTION_MS: Type.Integer({ minimum: 0, default: 3_600_000 }),
  CONSUMER_CONCURRENCY: Int(1, 8, 256),
  CLOUD_PROVIDER: Type.Union([Type.Literal('local'), Type.Literal('aws'), Type.Literal('azure')], {
    default: 'local',
  }),
  PUBLIC_MQTT_URL: Type.String({ minLength: 1, default: 'mqtts://127.0.0.1:8883' }),
  PUBLIC_API_URL: Type.String({ minLength: 1, default: 'http://127.0.0.1:8080' }),
  AWS_REGION: Type.Optional(Type.String({ minLength: 1 })),
  AWS_IOT_POLICY_NAME: Type.Optional(Type.String({ minLength: 1 })),
  AWS_IOT_THING_TYPE: Type.Optional(Type.String({ minLength: 1 })),
  AZURE_IOTHUB_CONNECTION_STRING: Type.Optional(Type.String({ minLength: 1 })),
  AZURE_AUTH_MODE: Type.Union([Type.Literal('ca'), Type.Literal('thumbprint')], { default: 'ca' }),
  CLOUD_MAX_ATTEMPTS: Int(1, 4, 10),
  CLOUD_BREAKER_THRESHOLD: Int(1, 5),
  CLOUD_BREAKER_HALF_OPEN_MS: Int(100, 30_000),
  /** Where the CA keys live: `file` (PKI_DIR, 0600) or `env` (PKI_ENV_PREFIX). */
  PKI_SECRET_STORE: Type.Union([Type.Literal('file'), Type.Literal('env')], { default: 'file' }),
  PKI_DIR: Type.String({ minLength: 1, default: '.drover/pki' }),
  PKI_ENV_PREFIX: Type.String({ minLength: 1, default: 'DROVER_PKI_' }),
  /**
   * 256-bit key (64 hex digits or base64) that encrypts server-generated private keys kept for
   * retries; default: `result-encryption-key` in the PKI secret store (created in a file store).
   */
  PROVISIONING_RESULT_KEY: Type.Optional(Type.String({ minLength: 1 })),
  CRL_PATH: Type.String({ minLength: 1, default: '.drover/pki/crl.pem' }),
  CRL_VALIDITY_DAYS: Int(1, 7, 365),
  CERT_VALIDITY_DAYS: Int(1, 90, 3650),
  CERT_RENEW_BEFORE_DAYS: Int(1, 30, 3650),
  CERT_ROTATE_RETRY_HOURS: Int(1, 24),
  EXPIRY_SCAN_INTERVAL_MS: Int(1000, 86_400_000),
  TIMER_POLL_MS: Int(50, 60_000),
  REQUEST_RESULT_RETENTION_HOURS: Int(1, 24),
  ROTATE_COMMAND_TTL_S: Int(60, 86_400),
});
/** The provisioning service's parsed configuration. */
export type ProvisioningConfig = Static<typeof ProvisioningConfigSchema>;

/** Reads and checks the environment. */
export function loadProvisioningConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(ProvisioningConfigSchema, env);
}
