// A device's statuses keep their order through the ingress while other connections are stalled.
// The registry orders presence by the ingress's receipt time (`received_at`), so an `online`
// that waits behind a slow message and is stamped after a newer status of the same device wins
// there for good (docs/rollouts.md, the rolled-back device that stayed on the bad version).
// Here the stall is a registry outage: telemetry of a device the ingress has not looked up yet
// retries its lookup and holds its connection, while the status device is already cached.
// Command answers (`cmd/res`) pass the stalled connections as well, on connections of their own.
// Also: a data connection resuming an older version's session gives up its `status` and
// `cmd/res` shares, and a message refused while the ingress stops is redelivered to the next
// session.
import mqtt, { type MqttClient } from 'mqtt';
import { type Bus, rpcRequest } from '@drover/bus';
import { deviceSubject, eventFilter } from '@drover/contracts';
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
import { type MqttIngress, startMqttIngress, subscriptionFilters } from '../../src/app';
import { StoppingError, openSubscriber } from '../../src/adapters/mqtt/subscriber.connection';
import { loadIngressConfig } from '../../src/config';
import { TEST_MQTT_URL, purgeSessions } from './pipeline.harness';

jest.setTimeout(180_000);

const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const tenant = 'acme';
/** Ingress connections for the other channels. */
const CONNECTIONS = 4;
/** Of those, stalled by telemetry (one message each: the broker round-robins a shared group). */
const STALLED = CONNECTIONS - 1;
/** `online` statuses the device sends while they are stalled. */
const STATUSES = 16;
/** Command answers the device sends while they are stalled. */
const ANSWERS = 8;

interface Presence {
  msgId: string;
  firmware: string;
  receivedAt: number;
}

describe('status order through the ingress with stalled connections', () => {
  const ns = testNamespace('statusord');
  const registrySchema = `${ns}_reg`;
  const registryConfig = {
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    DROVER_NAMESPACE: ns,
    DB_SCHEMA: registrySchema,
    DB_POOL_MAX: 3,
  };
  let bus: Bus;
  let registry: Awaited<ReturnType<typeof startDeviceRegistry>> | null = null;
  let ingress: MqttIngress | null = null;
  const devices: MqttClient[] = [];
  /** Presence messages of `dev` in the order the bus delivered them. */
  const presences: Presence[] = [];
  /** Command ids of `dev`'s answers on the bus. */
  const answers: string[] = [];

  const topic = (deviceId: string, channel: string) =>
    `${ns}/${tenant}/sensor/${deviceId}/${channel}`;
  const connect = async (deviceId: string) => {
    const c = await mqtt.connectAsync(TEST_MQTT_URL, {
      clientId: `${ns}-${deviceId}`,
      clean: true,
      reconnectPeriod: 500,
    });
    devices.push(c);
    return c;
  };
  const inFlight = async (): Promise<number> => {
    const metric = ingress?.metrics.registry.getSingleMetric('drover_ingress_in_flight');
    return metric ? ((await metric.get()).values[0]?.value ?? 0) : 0;
  };
  const publishedTelemetry = async (): Promise<number> => {
    const metric = ingress?.metrics.registry.getSingleMetric(
      'drover_ingress_messages_published_total',
    );
    const values = metric ? (await metric.get()).values : [];
    return values.find((v) => v.labels.kind === 'telemetry')?.value ?? 0;
  };
  const online = (n: number) =>
    JSON.stringify({
      msg_id: `s${n}`,
      ts: Date.now(),
      schema_version: 1,
      state: 'online',
      firmware_version: `1.0.${n}`,
    });

  beforeAll(async () => {
    bus = await withTestBus(ns);
    registry = await startDeviceRegistry(registryConfig, { logger: silent, ensureStreams: false });
    const create = (id: string) =>
      rpcRequest(bus, 'device-registry', 'create_device', {
        tenant,
        device_id: id,
        device_type: 'sensor',
        hardware_id: `hw-${id}`,
      });
    const registered = new Set<string>();
    bus.nc.subscribe(eventFilter(bus.naming, { aggregate: 'device', event: 'registered' }), {
      callback: (_err, msg) => registered.add(String(msg.json<{ subject?: string }>().subject)),
    });
    // The registry's RPC subscription reaches the server asynchronously: the first call waits.
    await waitFor(() => create('dev'), { timeoutMs: 10_000 });
    await create('slow');
    // Their events out before the ingress listens: nothing drops its cached `dev` later.
    await waitFor(() => registered.has('dev') && registered.has('slow'), { timeoutMs: 30_000 });
    bus.nc.subscribe(deviceSubject(bus.naming, 'presence', tenant, 'dev'), {
      callback: (_err, msg) => {
        const body = msg.json<{ msg_id: string; firmware_version: string; received_at: string }>();
        presences.push({
          msgId: body.msg_id,
          firmware: body.firmware_version,
          receivedAt: Date.parse(body.received_at),
        });
      },
    });
    bus.nc.subscribe(deviceSubject(bus.naming, 'cmd_res', tenant, 'dev'), {
      callback: (_err, msg) => answers.push(msg.json<{ cmd_id: string }>().cmd_id),
    });
    await bus.nc.flush();
    ingress = await startMqttIngress(
      loadIngressConfig({
        NATS_URL: TEST_NATS_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        ENSURE_STREAMS: 'false',
        OPS_PORT: '0',
        MQTT_URL: TEST_MQTT_URL,
        MQTT_TOPIC_PREFIX: ns,
        MQTT_CLIENT_ID: `${ns}-ingress`,
        MQTT_CONNECTIONS: String(CONNECTIONS),
      }),
      { logger: silent },
    );
  });

  afterAll(async () => {
    await Promise.all(devices.map((d) => d.endAsync()));
    await ingress?.stop();
    await registry?.stop();
    if (ingress) await purgeSessions(TEST_MQTT_URL, ingress.clientIds);
    const regDb = await createTestDb(registrySchema);
    await dropTestDb(regDb, registrySchema);
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('stamps one device’s statuses in the order it sent them', async () => {
    const dev = await connect('dev');
    const slow = await connect('slow');
    // `dev` looked up and cached while the registry answers (a `device.updated` for new
    // firmware would not drop the entry: it holds no firmware).
    const warm = { msg_id: 'w0', ts: Date.now(), schema_version: 1, metrics: { x: 1 } };
    await dev.publishAsync(topic('dev', 'telemetry'), JSON.stringify(warm), { qos: 1 });
    await waitFor(async () => (await publishedTelemetry()) === 1, { timeoutMs: 30_000 });

    // Registry away: the first telemetry of `slow` holds each connection it reaches.
    await registry?.stop();
    registry = null;
    for (let i = 0; i < STALLED; i += 1) {
      const body = { msg_id: `t${i}`, ts: Date.now(), schema_version: 1, metrics: { i } };
      await slow.publishAsync(topic('slow', 'telemetry'), JSON.stringify(body), { qos: 1 });
    }
    await waitFor(async () => (await inFlight()) === STALLED, {
      timeoutMs: 30_000,
      description: `${STALLED} connections held by telemetry`,
    });

    // Each PUBACK before the next publish: the broker has them in this order.
    for (let n = 1; n <= STATUSES; n += 1) {
      await dev.publishAsync(topic('dev', 'status'), online(n), { qos: 1 });
    }
    // Every status has its way past the stalled connections now; spread over the data
    // connections instead, only the share that reached the free one would (1 in CONNECTIONS).
    await waitFor(() => presences.length >= STATUSES / CONNECTIONS, {
      timeoutMs: 30_000,
      description: 'statuses past the stalled connections',
    });
    // Command answers pass the stalled data connections too (connections of their own); spread
    // over the data connections, the broker's round robin would hold most of them.
    for (let n = 1; n <= ANSWERS; n += 1) {
      const answer = { msg_id: `a${n}`, ts: Date.now(), schema_version: 1, cmd_id: `c${n}` };
      await dev.publishAsync(
        topic('dev', 'cmd/res'),
        JSON.stringify({ ...answer, status: 'succeeded' }),
        { qos: 1 },
      );
    }
    await waitFor(() => answers.length === ANSWERS, {
      timeoutMs: 30_000,
      description: 'the answers past the stalled connections',
    });
    expect(await inFlight()).toBe(STALLED);

    // The registry back: the held telemetry goes on, with whatever queued behind it.
    registry = await startDeviceRegistry(registryConfig, { logger: silent, ensureStreams: false });
    await waitFor(() => presences.length === STATUSES, {
      timeoutMs: 60_000,
      description: `${STATUSES} presence messages`,
    });
    await waitFor(async () => (await inFlight()) === 0, { timeoutMs: 60_000 });

    const sent = Array.from({ length: STATUSES }, (_, n) => `s${n + 1}`);
    // On the bus in the device's order, and stamped so: sorting by `received_at` (ties keep
    // the bus order) gives the device's order back.
    expect(presences.map((p) => p.msgId)).toEqual(sent);
    const byReceipt = presences
      .map((p, i) => ({ ...p, i }))
      .sort((a, b) => a.receivedAt - b.receivedAt || a.i - b.i);
    expect(byReceipt.map((p) => p.msgId)).toEqual(sent);
    expect(byReceipt.at(-1)?.firmware).toBe(`1.0.${STATUSES}`);
  });
});

describe('a data connection resuming a session of the version before', () => {
  const ns = testNamespace('statusdrop');
  const clientId = `${ns}-ingress-0`;
  const filters = subscriptionFilters('ingress', ns);
  const clients: MqttClient[] = [];

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync()));
    await purgeSessions(TEST_MQTT_URL, [clientId]);
  });

  it('drops the status and answer subscriptions the session still holds', async () => {
    // The session as the version before left it: every channel on every connection.
    const before = await mqtt.connectAsync(TEST_MQTT_URL, { clientId, clean: false });
    await before.subscribeAsync([...filters.status, ...filters.answers, ...filters.other], {
      qos: 1,
    });
    await before.endAsync();

    const topics: string[] = [];
    const subscriber = openSubscriber({
      url: TEST_MQTT_URL,
      clientId,
      filters: filters.other,
      dropFilters: [...filters.status, ...filters.answers],
      sink: async (t) => {
        topics.push(t);
      },
      logger: silent,
    });
    clients.push(subscriber.client);
    await subscriber.ready;
    const device = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${ns}-d0`, clean: true });
    clients.push(device);
    const root = `${ns}/${tenant}/sensor/d0`;
    await device.publishAsync(`${root}/status`, '{}', { qos: 1 });
    await device.publishAsync(`${root}/cmd/res`, '{}', { qos: 1 });
    await device.publishAsync(`${root}/telemetry`, '{}', { qos: 1 });
    // One connection delivers in the broker's order: the status and answer would have come first.
    await waitFor(() => topics.includes(`${root}/telemetry`), { timeoutMs: 30_000 });
    expect(topics).toEqual([`${root}/telemetry`]);
  });
});

describe('a message the sink refuses while stopping', () => {
  const ns = testNamespace('unacked');
  const clientId = `${ns}-ingress-0`;
  const clients: MqttClient[] = [];

  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await purgeSessions(TEST_MQTT_URL, [clientId]);
  });

  it('stays unacknowledged, is counted, and the next session gets it', async () => {
    const filters = [`${ns}/x/#`];
    let refused = 0;
    const stopping = openSubscriber({
      url: TEST_MQTT_URL,
      clientId,
      filters,
      sink: async () => {
        refused += 1;
        throw new StoppingError();
      },
      logger: silent,
    });
    clients.push(stopping.client);
    await stopping.ready;
    const device = await mqtt.connectAsync(TEST_MQTT_URL, { clientId: `${ns}-d0`, clean: true });
    clients.push(device);
    await device.publishAsync(`${ns}/x/a`, 'hello', { qos: 1 });
    await waitFor(() => stopping.unacked() === 1, { timeoutMs: 30_000 });
    expect(refused).toBe(1);
    await stopping.close(true);

    const got: string[] = [];
    const next = openSubscriber({
      url: TEST_MQTT_URL,
      clientId,
      filters,
      sink: async (_t, payload) => {
        got.push(payload.toString());
      },
      logger: silent,
    });
    clients.push(next.client);
    await waitFor(() => got.length === 1, { timeoutMs: 30_000, description: 'redelivery' });
    expect(got).toEqual(['hello']);
    expect(next.unacked()).toBe(0);
  });
});
