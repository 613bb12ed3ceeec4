// Environment of the device simulator, validated at start.
import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';
import { parseVersionRates } from './domain/firmware';

const Rate = (def: number) => Type.Number({ minimum: 0, maximum: 1, default: def });
const Id = (def: string) => Type.String({ pattern: '^[A-Za-z0-9_-]{1,48}$', default: def });

/** The simulator's environment schema. */
export const SimulatorConfigSchema = Type.Object({
  ...CommonConfig,
  // The simulator talks to the registry over NATS and to devices' broker only.
  DATABASE_URL: Type.Optional(Type.String()),
  // Needed only to register the fleet (SIM_REGISTER).
  NATS_URL: Type.Optional(Type.String({ minLength: 1 })),
  REDIS_URL: Type.Optional(Type.String()),
  MQTT_URL: Type.String({ default: 'mqtt://127.0.0.1:1883' }),
  // Must equal the ingress's MQTT_TOPIC_PREFIX (tests isolate on the shared broker with it).
  MQTT_TOPIC_PREFIX: Type.String({ default: '', pattern: '^([A-Za-z0-9_-]{1,64})?$' }),
  FLEET_SIZE: Type.Integer({ minimum: 0, maximum: 100_000, default: 200 }),
  // Index of this simulator's first device: several simulator processes play one fleet
  // (device ids continue the numbering; benchmarks past one process's open-files limit).
  SIM_FLEET_OFFSET: Type.Integer({ minimum: 0, maximum: 1_000_000, default: 0 }),
  SIM_TENANT: Id('acme'),
  SIM_DEVICE_TYPE: Id('sensor'),
  SIM_SEED: Type.Integer({ minimum: 0, maximum: 0xffffffff, default: 1 }),
  SIM_TELEMETRY_INTERVAL_S: Type.Number({ minimum: 0.05, maximum: 86_400, default: 10 }),
  SIM_FIRMWARE_VERSION: Type.String({ minLength: 1, maxLength: 128, default: '1.0.0' }),
  // Devices connect in waves of this many, one wave after the previous is up.
  SIM_WAVE_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 50 }),
  // Every n-th message of a device is CBOR (0 = JSON only).
  SIM_CBOR_EVERY: Type.Integer({ minimum: 0, default: 5 }),
  SIM_COMMAND_FAILURE_RATE: Rate(0),
  SIM_MALFORMED_RATE: Rate(0),
  SIM_FLAP_RATE: Rate(0),
  // Per-device links: mean one-way delay (±50 %), share of slow links (10× the delay, ≥ 200 ms),
  // share of devices whose clock is off by up to SIM_MAX_CLOCK_SKEW_MS either way.
  SIM_NETWORK_DELAY_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 0 }),
  SIM_SLOW_LINK_RATE: Rate(0),
  SIM_CLOCK_SKEW_RATE: Rate(0),
  SIM_MAX_CLOCK_SKEW_MS: Type.Integer({ minimum: 0, default: 300_000 }),
  // Firmware faults: share of devices whose update fails, that vanish mid-update, that report
  // success and never return (boot loop); per target version: `2.0.0=0.1,2.1.0=1`.
  SIM_OTA_FAILURE_RATE: Rate(0),
  SIM_OTA_FAILURE_RATE_BY_VERSION: Type.String({ default: '' }),
  // Versions named `…-bad…` fail on this share of devices (the `drover demo` bad firmware).
  SIM_OTA_BAD_VERSION_RATE: Rate(0.1),
  SIM_OTA_VANISH_RATE: Rate(0),
  SIM_OTA_BOOT_LOOP_RATE: Rate(0),
  SIM_OTA_INSTALL_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 3000 }),
  SIM_OTA_DOWNLOAD_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 120_000 }),
  // Ed25519 public key (PEM) that signs firmware images; unset = signatures not checked.
  SIM_FIRMWARE_SIGNING_KEY: Type.Optional(Type.String({ minLength: 1 })),
  // Zero-touch provisioning: bootstrap certificates (issued here from the bootstrap CA in
  // PKI_DIR, playing the factory), the provisioning listener, then the fleet listener (mTLS).
  SIM_PROVISIONING: Type.Boolean({ default: false }),
  SIM_PROVISIONING_URL: Type.String({ minLength: 1, default: 'mqtts://127.0.0.1:8884' }),
  // Default: the endpoints.mqtt of the provisioning answer.
  SIM_FLEET_MQTT_URL: Type.Optional(Type.String({ minLength: 1 })),
  SIM_BROKER_CA_FILE: Type.String({ minLength: 1, default: '.drover/secure-mqtt/fleet-chain.pem' }),
  PKI_DIR: Type.String({ minLength: 1, default: '.drover/pki' }),
  // Fleet certificates issued beforehand (benchmarks: no provisioning round trip per device):
  // a JSON file `{"<device id>": {"cert": PEM, "key": PEM}}`; the devices connect with them to
  // SIM_FLEET_MQTT_URL (required then), trusting SIM_BROKER_CA_FILE.
  SIM_IDENTITY_FILE: Type.Optional(Type.String({ minLength: 1 })),
  // A freshly provisioned device announces itself online again this much later: the platform
  // may have refused its first status before registering it (0 = never).
  SIM_REANNOUNCE_AFTER_PROVISIONING_MS: Type.Integer({ minimum: 0, default: 15_000 }),
  // Worker threads: -1 = one per SIM_DEVICES_PER_THREAD devices (at most one per core), 0 = none.
  SIM_WORKERS: Type.Integer({ minimum: -1, maximum: 64, default: -1 }),
  SIM_DEVICES_PER_THREAD: Type.Integer({ minimum: 1, default: 2500 }),
  // Register the fleet with the device registry over NATS (off: broker only, e.g. benchmarks).
  SIM_REGISTER: Type.Boolean({ default: true }),
  // Reconnect back-off bounds (the protocol's 1 s–5 min; tests shorten them).
  SIM_RECONNECT_MIN_MS: Type.Integer({ minimum: 10, default: 1000 }),
  SIM_RECONNECT_MAX_MS: Type.Integer({ minimum: 10, default: 300_000 }),
  // A connection attempt (TLS handshake to CONNACK) is given up after this long; thousands of
  // mTLS handshakes on a loaded machine need more than the default.
  SIM_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
});
/** The simulator's parsed configuration. */
export type SimulatorConfig = Static<typeof SimulatorConfigSchema>;

/** Reads and checks the environment. */
export function loadSimulatorConfig(env: Record<string, string | undefined> = process.env) {
  const config = loadConfig(SimulatorConfigSchema, env);
  if (config.SIM_REGISTER && config.NATS_URL === undefined) {
    throw new Error('NATS_URL is required to register the fleet (or set SIM_REGISTER=false)');
  }
  if (config.SIM_IDENTITY_FILE !== undefined && config.SIM_FLEET_MQTT_URL === undefined) {
    throw new Error('SIM_IDENTITY_FILE needs SIM_FLEET_MQTT_URL (the fleet listener)');
  }
  try {
    parseVersionRates(config.SIM_OTA_FAILURE_RATE_BY_VERSION);
  } catch (err) {
    throw new Error(`SIM_OTA_FAILURE_RATE_BY_VERSION: ${(err as Error).message}`);
  }
  return config;
}
