// A whole telemetry pipeline on the shared servers, isolated by namespace, schema and topic
// prefix: the real device registry, the ingress and telemetry-ingest in-process, and real
// mqtt.js devices.
import type net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { sql, type Kysely } from 'kysely';
import { type Bus, rpcRequest } from '@drover/bus';
import { createLogger } from '@drover/observability';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { startDeviceRegistry } from '../../../device-registry/src/app';
import { type MqttIngress, startMqttIngress } from '../../src/app';
import { loadIngressConfig } from '../../src/config';
import { type TelemetryIngest, startTelemetryIngest } from '../../../telemetry-ingest/src/app';
import { loadIngestConfig } from '../../../telemetry-ingest/src/config';

/** Shared broker unless MQTT_URL says otherwise. */
export const TEST_MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';

/** Options of `startPipeline`. */
export interface PipelineOptions {
  /** Label of the namespace. */
  label: string;
  /** Devices to register (ids `d0`…). */
  devices: number;
  /** Extra ingress environment. */
  ingressEnv?: Record<string, string>;
  /** Extra ingest environment; `false` = do not start telemetry-ingest in-process. */
  ingestEnv?: Record<string, string> | false;
  /** NATS URL (default the shared one). */
  natsUrl?: string;
  /** Database URL for telemetry-ingest (default the shared one). */
  ingestDatabaseUrl?: string;
}

/** A running pipeline. */
export interface Pipeline {
  /** Namespace (also the MQTT topic prefix). */
  ns: string;
  /** Tenant of the devices. */
  tenant: string;
  /** Device ids. */
  deviceIds: string[];
  /** A bus on the namespace. */
  bus: Bus;
  /** The ingress. */
  ingress: MqttIngress;
  /** telemetry-ingest (null when not started in-process). */
  ingest: TelemetryIngest | null;
  /** Environment to start telemetry-ingest elsewhere (a child process). */
  ingestEnv: Record<string, string>;
  /** The telemetry schema. */
  schema: string;
  /** A db on the telemetry schema (counts rows). */
  db: Kysely<unknown>;
  /** Rows in the telemetry table. */
  rowCount(): Promise<number>;
  /** Connects a device (clean session, TCP no-delay). */
  connectDevice(deviceId: string): Promise<MqttClient>;
  /** Topic of a device's channel. */
  topic(deviceId: string, channel: string, tenant?: string, deviceType?: string): string;
  /** Stops everything and removes every trace from the shared servers. */
  stop(): Promise<void>;
}

const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Removes persistent sessions left on the broker by fixed client ids. */
export async function purgeSessions(url: string, clientIds: string[]): Promise<void> {
  await Promise.all(
    clientIds.map(async (clientId) => {
      const c = await mqtt.connectAsync(url, { clientId, clean: true, reconnectPeriod: 0 });
      await c.endAsync();
    }),
  );
}

/** Starts registry, ingress and (optionally) telemetry-ingest on a fresh namespace. */
export async function startPipeline(opts: PipelineOptions): Promise<Pipeline> {
  const ns = testNamespace(opts.label);
  const natsUrl = opts.natsUrl ?? TEST_NATS_URL;
  const tenant = 'acme';
  const bus = await withTestBus(ns, { url: natsUrl });
  const registrySchema = `${ns}_reg`;
  const schema = `${ns}_tel`;
  const registry = await startDeviceRegistry(
    {
      NATS_URL: natsUrl,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: registrySchema,
      DB_POOL_MAX: 3,
    },
    { logger: silent, ensureStreams: false },
  );
  const deviceIds = Array.from({ length: opts.devices }, (_, i) => `d${i}`);
  const create = (id: string) =>
    rpcRequest(bus, 'device-registry', 'create_device', {
      tenant,
      device_id: id,
      device_type: 'sensor',
      hardware_id: `hw-${id}`,
    });
  // The registry's RPC subscription reaches the server asynchronously: the first call waits.
  const [first, ...rest] = deviceIds;
  if (first !== undefined) await waitFor(() => create(first), { timeoutMs: 10_000 });
  for (const id of rest) await create(id);
  const common = {
    NATS_URL: natsUrl,
    REDIS_URL: TEST_REDIS_URL,
    DROVER_NAMESPACE: ns,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    ENSURE_STREAMS: 'false',
    OPS_PORT: '0',
  };
  const ingestEnv: Record<string, string> = {
    ...common,
    DATABASE_URL: opts.ingestDatabaseUrl ?? TEST_DATABASE_URL,
    DB_SCHEMA: schema,
    DB_POOL_MAX: '4',
    ...(opts.ingestEnv || {}),
  };
  const ingest =
    opts.ingestEnv === false
      ? null
      : await startTelemetryIngest(loadIngestConfig(ingestEnv), { logger: silent });
  const ingress = await startMqttIngress(
    loadIngressConfig({
      ...common,
      MQTT_URL: TEST_MQTT_URL,
      MQTT_TOPIC_PREFIX: ns,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      MQTT_CONNECTIONS: '8',
      REJECT_REPORTS_PER_S: '100000',
      ...opts.ingressEnv,
    }),
    { logger: silent },
  );
  const db = await createTestDb(schema, { url: opts.ingestDatabaseUrl ?? TEST_DATABASE_URL });
  const devices: MqttClient[] = [];

  return {
    ns,
    tenant,
    deviceIds,
    bus,
    ingress,
    ingest,
    ingestEnv,
    schema,
    db,
    async rowCount() {
      const r = await sql<{ n: string }>`SELECT count(*) AS n FROM telemetry`.execute(db);
      return Number(r.rows[0]?.n);
    },
    async connectDevice(deviceId) {
      const c = await mqtt.connectAsync(TEST_MQTT_URL, {
        clientId: `${ns}-${deviceId}`,
        clean: true,
        reconnectPeriod: 500,
      });
      (c.stream as unknown as net.Socket).setNoDelay(true);
      devices.push(c);
      return c;
    },
    topic(deviceId, channel, t = tenant, deviceType = 'sensor') {
      return `${ns}/${t}/${deviceType}/${deviceId}/${channel}`;
    },
    async stop() {
      await Promise.all(devices.map((d) => d.endAsync()));
      await ingress.stop();
      await ingest?.stop();
      await registry.stop();
      await purgeSessions(TEST_MQTT_URL, ingress.clientIds);
      await dropTestDb(db, schema);
      const regDb = await createTestDb(registrySchema);
      await dropTestDb(regDb, registrySchema);
      await cleanupNamespace(ns, { bus });
      await bus.close();
    },
  };
}

/** Messages stored in the namespace's `stream` (TELEMETRY, DEVICE). */
export const storedIn = async (p: Pipeline, stream: string): Promise<number> =>
  (await p.bus.jsm.streams.info(p.bus.naming.stream(stream))).state.messages;

/**
 * Ingress replicas started next to a pipeline's own ingress (`MQTT_CLIENT_ID` `<ns>-<name>`,
 * `env` then `extra` on top of the common settings), and their sessions purged after.
 */
export function replicas(p: () => Pipeline, env: Record<string, string> = {}) {
  const started: MqttIngress[] = [];
  const clientIds = new Set<string>();
  return {
    async start(name: string, role = 'all', extra: Record<string, string> = {}) {
      const ingress = await startMqttIngress(
        loadIngressConfig({
          NATS_URL: TEST_NATS_URL,
          REDIS_URL: TEST_REDIS_URL,
          DROVER_NAMESPACE: p().ns,
          LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
          ENSURE_STREAMS: 'false',
          OPS_PORT: '0',
          MQTT_URL: TEST_MQTT_URL,
          MQTT_TOPIC_PREFIX: p().ns,
          MQTT_CLIENT_ID: `${p().ns}-${name}`,
          INGRESS_ROLE: role,
          ...env,
          ...extra,
        }),
      );
      started.push(ingress);
      for (const id of ingress.clientIds) clientIds.add(id);
      return ingress;
    },
    started,
    /** Also purges these client ids' sessions (ones a replica opened and later retired). */
    forget(...ids: string[]) {
      for (const id of ids) clientIds.add(id);
    },
    async stopAll(): Promise<void> {
      await Promise.all(started.map((o) => o.stop()));
      for (const id of p().ingress.clientIds) clientIds.add(id);
      await p().stop();
      await purgeSessions(TEST_MQTT_URL, [...clientIds]);
    },
  };
}
