// Environment of the device simulator, validated at start.
import { type Static, Type } from '@sinclair/typebox';
import { CommonConfig, loadConfig } from '@drover/service-kit';

const Rate = (def: number) => Type.Number({ minimum: 0, maximum: 1, default: def });
const Id = (def: string) => Type.String({ pattern: '^[A-Za-z0-9_-]{1,48}$', default: def });

/** The simulator's environment schema. */
export const SimulatorConfigSchema = Type.Object({
  ...CommonConfig,
  // The simulator talks to the registry over NATS and to devices' broker only.
  DATABASE_URL: Type.Optional(Type.String()),
  REDIS_URL: Type.Optional(Type.String()),
  MQTT_URL: Type.String({ default: 'mqtt://127.0.0.1:1883' }),
  // Must equal the ingress's MQTT_TOPIC_PREFIX (tests isolate on the shared broker with it).
  MQTT_TOPIC_PREFIX: Type.String({ default: '', pattern: '^([A-Za-z0-9_-]{1,64})?$' }),
  FLEET_SIZE: Type.Integer({ minimum: 0, maximum: 100_000, default: 200 }),
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
  // Reconnect back-off bounds (the protocol's 1 s–5 min; tests shorten them).
  SIM_RECONNECT_MIN_MS: Type.Integer({ minimum: 10, default: 1000 }),
  SIM_RECONNECT_MAX_MS: Type.Integer({ minimum: 10, default: 300_000 }),
});
/** The simulator's parsed configuration. */
export type SimulatorConfig = Static<typeof SimulatorConfigSchema>;

/** Reads and checks the environment. */
export function loadSimulatorConfig(env: Record<string, string | undefined> = process.env) {
  return loadConfig(SimulatorConfigSchema, env);
}
