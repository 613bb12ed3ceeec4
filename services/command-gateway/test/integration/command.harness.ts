// The command path on the shared servers, isolated by namespace, schema and topic prefix: the
// real registry, the real ingress and the command gateway in-process, and mqtt.js devices.
import type net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { type Kysely } from 'kysely';
import { type Bus, rpcRequest } from '@drover/bus';
import { type Command, type CreateCommandResponse } from '@drover/contracts';
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
import { type DeviceRegistry, startDeviceRegistry } from '../../../device-registry/src/app';
import { type MqttIngress, startMqttIngress } from '../../../mqtt-ingress/src/app';
import { loadIngressConfig } from '../../../mqtt-ingress/src/config';
import { type CommandGateway, startCommandGateway } from '../../src/app';
import { type GatewayConfig } from '../../src/config';

/** Shared broker unless MQTT_URL says otherwise. */
export const TEST_MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** How a simulated device answers a command, by command name. */
export type Behaviour = (cmd: ReceivedCommand, answer: Answer) => void;
/** Publishes one `cmd/res`. */
export type Answer = (status: string, extra?: Record<string, unknown>) => void;

/** A command as the device received it. */
export interface ReceivedCommand {
  /** msg_id = command id. */
  msgId: string;
  /** Command name. */
  name: string;
  /** Params. */
  params: Record<string, unknown>;
  /** When the device got it (epoch ms). */
  at: number;
}

/** A simulated device. */
export interface Device {
  /** Its id. */
  id: string;
  /** Every command received, in order. */
  received: ReceivedCommand[];
  /** The MQTT client. */
  client: MqttClient;
  /** Publishes an answer for any cmd id (tests of unknown/late answers). */
  answer(cmdId: string, status: string, extra?: Record<string, unknown>): Promise<void>;
  /** Drops the connection without DISCONNECT (the broker fires the last will). */
  drop(): void;
}

/** Default behaviour: the command name says what to answer. */
export const byName: Behaviour = (cmd, answer) => {
  if (cmd.name === 'silent') return;
  if (cmd.name === 'fail') answer('failed', { error: 'boom' });
  else if (cmd.name === 'reject') answer('rejected', { error: 'unsupported' });
  else if (cmd.name === 'dup') {
    answer('succeeded', { result: { n: 1 } });
    answer('succeeded', { result: { n: 1 } });
  } else if (cmd.name === 'accept_only') answer('accepted');
  else answer('succeeded', { result: { echo: cmd.params } });
};

/** A running command path. */
export interface Harness {
  /** Namespace (also the MQTT topic prefix). */
  ns: string;
  /** Tenant. */
  tenant: string;
  /** A bus on the namespace. */
  bus: Bus;
  /** The gateway (replaced by `restartGateway`). */
  gateway: CommandGateway;
  /** The gateway's schema name. */
  schema: string;
  /** Registers devices `ids`. */
  register(ids: string[]): Promise<void>;
  /** Connects a device that announces itself online and answers with `behaviour`. */
  connect(id: string, behaviour?: Behaviour, clientOpts?: mqtt.IClientOptions): Promise<Device>;
  /** The topic of a device channel. */
  topic(id: string, channel: string): string;
  /** create_command. */
  create(body: Record<string, unknown>): Promise<CreateCommandResponse>;
  /** get_command. */
  get(commandId: string): Promise<Command>;
  /** Waits until a command has `status` (or any final state when omitted). */
  until(commandId: string, pred: (c: Command) => boolean, timeoutMs?: number): Promise<Command>;
  /** Stops and starts the gateway on the same schema. */
  restartGateway(): Promise<void>;
  /** Value of a counter/histogram-count series of the gateway. */
  metric(name: string, labels: Record<string, string>): Promise<number>;
  /** Stops everything and removes every trace. */
  stop(): Promise<void>;
}

/** Starts registry, ingress and gateway on a fresh namespace. */
export async function startHarness(
  label: string,
  gatewayEnv: Partial<GatewayConfig> = {},
  ingressEnv: Record<string, string> = {},
): Promise<Harness> {
  const ns = testNamespace(label);
  const tenant = 'acme';
  const bus = await withTestBus(ns);
  const registrySchema = `${ns}_reg`;
  const schema = `${ns}_cmd`;
  const registry: DeviceRegistry = await startDeviceRegistry(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: registrySchema,
      DB_POOL_MAX: 4,
    },
    { logger: silent },
  );
  const ingress: MqttIngress = await startMqttIngress(
    loadIngressConfig({
      NATS_URL: TEST_NATS_URL,
      DROVER_NAMESPACE: ns,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      ENSURE_STREAMS: 'false',
      OPS_PORT: '0',
      MQTT_URL: TEST_MQTT_URL,
      MQTT_TOPIC_PREFIX: ns,
      MQTT_CLIENT_ID: `${ns}-ingress`,
      MQTT_CONNECTIONS: '4',
      ...ingressEnv,
    }),
    { logger: silent, opsServer: false },
  );
  const startGateway = () =>
    startCommandGateway(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: schema,
        DB_POOL_MAX: 12,
        CONSUMER_CONCURRENCY: 8,
        OUTBOX_POLL_MS: 50,
        ...gatewayEnv,
      },
      { logger: silent },
    );
  let gateway = await startGateway();
  const devices: MqttClient[] = [];
  let stopping = false;
  const retainedTopics = new Set<string>();
  const topic = (id: string, channel: string) => `${ns}/${tenant}/sensor/${id}/${channel}`;
  const rpc = <T>(op: string, body: Record<string, unknown>) =>
    rpcRequest<T>(bus, 'command-gateway', op, { tenant, ...body }, { timeoutMs: 15_000 });

  const h: Harness = {
    ns,
    tenant,
    bus,
    schema,
    get gateway() {
      return gateway;
    },
    async register(ids) {
      const create = (id: string) =>
        rpcRequest(
          bus,
          'device-registry',
          'create_device',
          { tenant, device_id: id, device_type: 'sensor', hardware_id: `hw-${id}` },
          // A loaded CI machine can hold a registry write back for seconds.
          { timeoutMs: 30_000 },
        );
      const [first, ...rest] = ids;
      // The registry's RPC subscription reaches the server asynchronously: the first call waits.
      if (first !== undefined) await waitFor(() => create(first), { timeoutMs: 10_000 });
      for (let i = 0; i < rest.length; i += 25) {
        await Promise.all(rest.slice(i, i + 25).map(create));
      }
    },
    async connect(id, behaviour = byName, clientOpts = {}) {
      const status = topic(id, 'status');
      retainedTopics.add(status);
      const client = await mqtt.connectAsync(TEST_MQTT_URL, {
        clientId: `${ns}-${id}`,
        clean: true,
        reconnectPeriod: 0,
        will: { topic: status, payload: Buffer.from('{"state":"offline"}'), qos: 1, retain: true },
        ...clientOpts,
      });
      (client.stream as unknown as net.Socket).setNoDelay(true);
      devices.push(client);
      const received: ReceivedCommand[] = [];
      let seq = 0;
      const publishAnswer = (cmdId: string, st: string, extra: Record<string, unknown> = {}) =>
        client.publishAsync(
          topic(id, 'cmd/res'),
          JSON.stringify({
            msg_id: `r-${cmdId}-${seq++}`,
            ts: Date.now(),
            schema_version: 1,
            cmd_id: cmdId,
            status: st,
            ...extra,
          }),
          { qos: 1 },
        );
      client.on('message', (_t, payload) => {
        const p = JSON.parse(payload.toString()) as {
          msg_id: string;
          command: { name: string; params: Record<string, unknown> };
        };
        const cmd = { msgId: p.msg_id, ...p.command, at: Date.now() };
        received.push(cmd);
        behaviour(cmd, (st, extra) => {
          // A force-ended device fails its in-flight answers with "Connection closed"; that is
          // the harness stopping, not a failure of the code under test.
          publishAnswer(cmd.msgId, st, extra).catch((err: unknown) => {
            if (!stopping) throw err;
          });
        });
      });
      await client.subscribeAsync(topic(id, 'cmd'), { qos: 1 });
      await client.publishAsync(
        status,
        JSON.stringify({
          msg_id: `s-${Date.now()}`,
          ts: Date.now(),
          schema_version: 1,
          state: 'online',
          firmware_version: '1.0.0',
        }),
        { qos: 1, retain: true },
      );
      return {
        id,
        received,
        client,
        answer: async (cmdId, st, extra) => {
          await publishAnswer(cmdId, st, extra);
        },
        drop: () => (client.stream as unknown as net.Socket).destroy(),
      };
    },
    topic,
    create: (body) => rpc<CreateCommandResponse>('create_command', body),
    get: (commandId) => rpc<Command>('get_command', { command_id: commandId }),
    async until(commandId, pred, timeoutMs = 15_000) {
      return waitFor(
        async () => {
          const c = await h.get(commandId);
          return pred(c) ? c : null;
        },
        { timeoutMs, intervalMs: 20, description: `command ${commandId}` },
      );
    },
    async restartGateway() {
      await gateway.stop();
      gateway = await startGateway();
    },
    async metric(name, labels) {
      const m = gateway.metrics.registry.getSingleMetric(name);
      if (m === undefined) return 0;
      const { values } = await m.get();
      return values
        .filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x))
        .filter((v) => !('metricName' in v) || String(v.metricName).endsWith('_count'))
        .reduce((sum, v) => sum + v.value, 0);
    },
    async stop() {
      stopping = true;
      await Promise.all(devices.map((d) => d.endAsync(true)));
      // Retained status messages would outlive the test on the shared broker.
      const cleaner = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${ns}-cleaner` });
      for (const t of retainedTopics) await cleaner.publishAsync(t, '', { qos: 1, retain: true });
      await cleaner.endAsync();
      await gateway.stop();
      await ingress.stop();
      await registry.stop();
      await Promise.all(
        ingress.clientIds.map(async (clientId) => {
          const c = await mqtt.connectAsync(TEST_MQTT_URL, { clientId, clean: true });
          await c.endAsync();
        }),
      );
      for (const s of [schema, registrySchema]) {
        const db: Kysely<unknown> = await createTestDb(s);
        await dropTestDb(db, s);
      }
      await cleanupNamespace(ns, { bus });
      await bus.close();
    },
  };
  return h;
}
