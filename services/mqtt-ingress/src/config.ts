import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, ConfigError, loadConfig } from '@drover/service-kit';

/** Environment of the MQTT ingress (CommonConfig plus the broker side). */
export const IngressConfigSchema = Type.Object({
  ...CommonConfig,
  // The ingress keeps nothing durable: no database, and Redis only through the registry.
  DATABASE_URL: Type.Optional(Type.String()),
  REDIS_URL: Type.Optional(Type.String()),
  MQTT_URL: Type.String({ default: 'mqtt://127.0.0.1:1883' }),
  // One topic level in front of `<tenant>/…`: isolates tests on the shared broker.
  MQTT_TOPIC_PREFIX: Type.String({ default: '', pattern: '^([A-Za-z0-9_-]{1,64})?$' }),
  // Base of the fixed client ids: a persistent session must find the same id after a restart,
  // and each replica needs its own (the Helm chart sets a StatefulSet pod's name). Up to 64
  // characters: the longest suffix makes 75, within what Mosquitto and EMQX accept.
  MQTT_CLIENT_ID: Type.String({ default: 'drover-ingress', pattern: '^[A-Za-z0-9_-]{1,64}$' }),
  MQTT_SHARE_GROUP: Type.String({ default: 'ingress', pattern: '^[A-Za-z0-9_-]{1,64}$' }),
  // TLS client of the broker's platform listener (MQTT_URL mqtts://…): PEM files. The CA file
  // holds the trust anchors of the broker's server certificate (default: the system's); the
  // certificate and key are the ingress' own identity (CN drover-ingress, service CA).
  MQTT_CA_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MQTT_CERT_FILE: Type.Optional(Type.String({ minLength: 1 })),
  MQTT_KEY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // Name the broker's certificate must carry when it differs from MQTT_URL's host.
  MQTT_TLS_SERVERNAME: Type.Optional(Type.String({ minLength: 1 })),
  // mqtt.js handles one packet per connection at a time; parallelism comes from connections.
  MQTT_CONNECTIONS: Type.Integer({ default: 32, minimum: 1, maximum: 256 }),
  // Connections of their own for command answers (`cmd/res`), so they never queue behind
  // telemetry; each handles one answer at a time (one JetStream ack apart), so a connection
  // takes about 1 / (ack latency) answers/s. At 1,000 commands/s, 4 fell behind by seconds;
  // with 10,000 telemetry msg/s also flowing (acks slower), 48 held p95 105–120 ms where 16
  // held 130–145 ms (docs/benchmarks.md).
  MQTT_ANSWER_CONNECTIONS: Type.Integer({ default: 48, minimum: 1, maximum: 64 }),
  // Statuses handled at once on the one status connection (a reconnect storm's `online`s wait
  // for their device lookups side by side, not one after another); their PUBACKs still go in
  // order, and one device's statuses are handled one after another. The broker's in-flight
  // window per client (Mosquitto's max_inflight_messages) caps it too. 1 = one at a time.
  MQTT_STATUS_PIPELINE: Type.Integer({ default: 64, minimum: 1, maximum: 1024 }),
  // A stopping replica gives its shared subscriptions up when another replica of the share
  // group says (over NATS) it is up and not stopping, then handles what its sessions still
  // deliver until none came for this long: a persistent session would otherwise keep getting
  // its turn of the device traffic while it is away (for good, after a scale-down). The last
  // replica keeps them, and the broker queues for its return. 0 = never give them up.
  MQTT_HANDOFF_QUIET_MS: Type.Integer({ default: 250, minimum: 0, maximum: 10000 }),
  // Each replica records its sessions (client ids, subscriptions) in a JetStream key-value
  // bucket and rewrites its entry every fifth of this. Its own sessions it no longer opens (a
  // connection count lowered, a role changed) it retires at start; another replica's, once that
  // replica's entry is older than this (crashed, then scaled away): it takes what they hold and
  // gives their subscriptions up, so no share of the device traffic is queued for a client id
  // nobody opens. Longer than a replica's restart takes. 0 = no ledger, nothing retired.
  MQTT_SESSION_RETIRE_AFTER_MS: Type.Integer({ default: 300000, minimum: 0 }),
  MAX_PAYLOAD_BYTES: Type.Integer({ default: 262144, minimum: 1024 }),
  MAX_FUTURE_SKEW_MS: Type.Integer({ default: 300000, minimum: 0 }),
  MAX_AGE_MS: Type.Integer({ default: 7 * 24 * 3600 * 1000, minimum: 1000 }),
  // Age after which a known device's answer is refreshed in the background. Device events drop
  // or update an entry at once, so this is only the safety net for a change nobody announced.
  META_CACHE_TTL_MS: Type.Integer({ default: 300000, minimum: 0 }),
  META_CACHE_MAX: Type.Integer({ default: 100000, minimum: 1 }),
  // "Unknown device" answers are kept this long (never served stale); registration events drop
  // them at once anyway.
  META_CACHE_NEGATIVE_TTL_MS: Type.Integer({ default: 1000, minimum: 0 }),
  // While the registry is unreachable a known device keeps flowing on its last answer, at most
  // this long after that answer was fetched.
  META_CACHE_STALE_MAX_MS: Type.Integer({ default: 900000, minimum: 0 }),
  // Rejects are reported on the bus at most this often per second; all are counted.
  REJECT_REPORTS_PER_S: Type.Integer({ default: 500, minimum: 0 }),
  COMMANDS_ENABLED: Type.Boolean({ default: true }),
  // What this replica handles (src/domain/ingress-role.ts): `all`; `commands` (COMMANDS and
  // desired state to the devices, their `cmd/res` answers); `devices` (telemetry, statuses,
  // update status, reported state, renewals, provisioning). Replicas of both roles in one share
  // group split the work, so a telemetry flood never delays a command in the same event loop.
  INGRESS_ROLE: Type.Union(
    [Type.Literal('all'), Type.Literal('commands'), Type.Literal('devices')],
    {
      default: 'all',
    },
  ),
  // How long a command's broker ack waits for the device's answer, to travel inside it instead
  // of as a `cmd_sent` report of its own (0 = every ack reported at once). With 16 answer
  // connections it hurt under telemetry (answers queued longer than the hold); with 48 it
  // lowered p50 and p95 idle and with telemetry in every pair (docs/benchmarks.md).
  COMMAND_SENT_HOLD_MS: Type.Integer({ default: 20, minimum: 0, maximum: 1000 }),
  // Create/update the streams at start (idempotent); off where a setup step owns them.
  ENSURE_STREAMS: Type.Boolean({ default: true }),
  TELEMETRY_STREAM_MAX_BYTES: Type.Optional(Type.Integer({ minimum: 1048576 })),
  // Telemetry records per TELEMETRY message: 1 = one message per record on its device's
  // subject; more = the records of one event-loop turn per tenant and device type in one
  // `{"batch": […]}` message on `…telemetry.<tenant>.<type>._batch` (docs/telemetry.md).
  TELEMETRY_BATCH_MAX: Type.Integer({ default: 1, minimum: 1, maximum: 10000 }),
});

/** Validated ingress configuration. */
export type IngressConfig = Static<typeof IngressConfigSchema>;

/** Reads and validates the environment; throws a ConfigError naming each bad variable. */
export function loadIngressConfig(env: NodeJS.ProcessEnv = process.env): IngressConfig {
  const config = loadConfig(IngressConfigSchema, env);
  if (config.INGRESS_ROLE === 'commands' && !config.COMMANDS_ENABLED) {
    throw new ConfigError([
      { variable: 'INGRESS_ROLE', reason: 'commands needs COMMANDS_ENABLED (it is false)' },
    ]);
  }
  if (config.MQTT_SESSION_RETIRE_AFTER_MS > 0 && config.MQTT_SESSION_RETIRE_AFTER_MS < 1000) {
    throw new ConfigError([
      { variable: 'MQTT_SESSION_RETIRE_AFTER_MS', reason: 'must be 0 (off) or at least 1000' },
    ]);
  }
  return config;
}
