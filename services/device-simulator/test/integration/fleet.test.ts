// A small fleet against the real platform path, isolated on the shared servers by namespace,
// schema and MQTT topic prefix: the registry and the ingress in-process, real mqtt.js devices.
import mqtt from 'mqtt';
import { type Bus, publish, rpcRequest } from '@drover/bus';
import { commandSubject, deviceSubject, desiredSubject, telemetrySubject } from '@drover/contracts';
import { createLogger, createMetrics } from '@drover/observability';
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
import { type MqttIngress, startMqttIngress } from '../../../mqtt-ingress/src/app';
import { loadIngressConfig } from '../../../mqtt-ingress/src/config';
import { type DeviceSimulator, startDeviceSimulator } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';

jest.setTimeout(90_000);

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const FLEET = 5;

describe('device simulator against registry and ingress', () => {
  const ns = testNamespace('sim');
  // The tenant carries the namespace: device ids (= MQTT client ids) are unique on the broker.
  const tenant = ns;
  const registrySchema = `${ns}_reg`;
  let bus: Bus;
  let registry: Awaited<ReturnType<typeof startDeviceRegistry>> | undefined;
  let ingress: MqttIngress | undefined;
  let sim: DeviceSimulator | undefined;
  const metrics = createMetrics({ service: 'device-simulator', defaultMetrics: false });
  const ids = Array.from({ length: FLEET }, (_, i) => `sim-${tenant}-000${i + 1}`);

  const getDevice = (id: string) =>
    rpcRequest<{ connectivity: string; hardware_model: string | null }>(
      bus,
      'device-registry',
      'get_device',
      { tenant, device_id: id },
    );
  const lastOn = async (stream: string, subject: string) => {
    const info = await bus.jsm.streams.info(bus.naming.stream(stream), {
      subjects_filter: subject,
    });
    const count = info.state.subjects?.[subject] ?? 0;
    if (count === 0) return null;
    const m = await bus.jsm.streams.getMessage(bus.naming.stream(stream), {
      last_by_subj: subject,
    });
    return { count, body: m.json<Record<string, unknown>>() };
  };

  // Every message on a subject once `n` are there (the ingress's connections may reorder).
  const allOn = async (stream: string, subject: string, n: number) => {
    const last = await lastOn(stream, subject);
    if (!last || last.count < n) return null;
    const consumer = await bus.js.consumers.get(bus.naming.stream(stream), {
      filterSubjects: subject,
    });
    const bodies: Record<string, unknown>[] = [];
    for await (const m of await consumer.fetch({ max_messages: last.count, expires: 2000 })) {
      bodies.push(m.json<Record<string, unknown>>());
      if (bodies.length === last.count) break;
    }
    return bodies;
  };

  beforeAll(async () => {
    bus = await withTestBus(ns);
    const common = {
      NATS_URL: TEST_NATS_URL,
      DROVER_NAMESPACE: ns,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      OPS_PORT: '0',
    };
    ingress = await startMqttIngress(
      loadIngressConfig({
        ...common,
        REDIS_URL: TEST_REDIS_URL,
        ENSURE_STREAMS: 'false',
        MQTT_URL,
        MQTT_TOPIC_PREFIX: ns,
        MQTT_CLIENT_ID: `${ns}-ingress`,
        MQTT_CONNECTIONS: '2',
      }),
      { logger: silent },
    );
    // The simulator starts before the registry: it must retry registration until it answers.
    sim = await startDeviceSimulator(
      loadSimulatorConfig({
        ...common,
        MQTT_URL,
        MQTT_TOPIC_PREFIX: ns,
        FLEET_SIZE: String(FLEET),
        SIM_TENANT: tenant,
        SIM_TELEMETRY_INTERVAL_S: '0.3',
        SIM_WAVE_SIZE: '2',
        SIM_RECONNECT_MIN_MS: '50',
        SIM_RECONNECT_MAX_MS: '500',
      }),
      { logger: silent, metrics },
    );
    registry = await startDeviceRegistry(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: registrySchema,
        DB_POOL_MAX: 3,
      },
      { logger: silent, ensureStreams: false },
    );
    await sim.up;
  });

  afterAll(async () => {
    await sim?.stop();
    await ingress?.stop();
    await registry?.stop();
    // Fixed client ids with clean=false leave sessions; retained status stays on the broker.
    const clientIds = [...ids, ...(ingress?.clientIds ?? [])];
    await Promise.all(
      clientIds.map(async (clientId) => {
        const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, reconnectPeriod: 0 });
        await c.endAsync();
      }),
    );
    const c = await mqtt.connectAsync(MQTT_URL, { clean: true, reconnectPeriod: 0 });
    for (const id of ids) {
      for (const channel of ['status', 'state/desired']) {
        await c.publishAsync(`${ns}/${tenant}/sensor/${id}/${channel}`, '', {
          retain: true,
          qos: 1,
        });
      }
    }
    await c.endAsync();
    const regDb = await createTestDb(registrySchema);
    await dropTestDb(regDb, registrySchema);
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('registers the fleet and brings it online (registry connectivity via presence)', async () => {
    expect(sim?.onlineCount()).toBe(FLEET);
    expect(await sim?.checks.fleet?.()).toBe(true);
    for (const id of ids) {
      const device = await waitFor(async () => {
        const d = await getDevice(id);
        return d.connectivity === 'online' ? d : null;
      });
      expect(['sx-100', 'sx-200']).toContain(device.hardware_model);
    }
    const text = await metrics.registry.metrics();
    expect(text).toMatch(new RegExp(`drover_sim_devices_connected\\{[^}]*\\} ${FLEET}`));
  });

  it('publishes telemetry that reaches the TELEMETRY stream', async () => {
    for (const id of ids) {
      const last = await waitFor(() =>
        lastOn('TELEMETRY', telemetrySubject(bus.naming, tenant, 'sensor', id)),
      );
      expect(last.body).toMatchObject({ device_id: id });
      expect(JSON.stringify(last.body)).toMatch(/temperature/);
    }
  });

  it('answers a command (accepted, succeeded) and a resend from memory', async () => {
    const id = ids[0] as string;
    const resSubject = deviceSubject(bus.naming, 'cmd_res', tenant, id);
    const command = {
      msg_id: 'cmd-1',
      ts: Date.now(),
      schema_version: 1,
      command: { name: 'blink', params: { times: 3 } },
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    await publish(bus, commandSubject(bus.naming, tenant, id), command, { msgId: 'cmd-1' });
    const answers = await waitFor(() => allOn('DEVICE', resSubject, 2));
    expect(answers.map((a) => a.status).sort()).toEqual(['accepted', 'succeeded']);
    expect(answers.find((a) => a.status === 'succeeded')).toMatchObject({
      cmd_id: 'cmd-1',
      result: { echo: { name: 'blink', params: { times: 3 } } },
    });
    // The same command again (a resend): answered with the earlier result, not run twice.
    await publish(bus, commandSubject(bus.naming, tenant, id), command, { msgId: 'cmd-1-again' });
    const again = await waitFor(() => allOn('DEVICE', resSubject, 3));
    expect(again.map((a) => a.status).sort()).toEqual(['accepted', 'succeeded', 'succeeded']);
  });

  it('reports desired state back as reported state', async () => {
    const id = ids[1] as string;
    await publish(
      bus,
      desiredSubject(bus.naming, tenant, id),
      { state: { led: 'on' }, version: 1 },
      { msgId: 'v1' },
    );
    const reported = await waitFor(() =>
      lastOn('DEVICE', deviceSubject(bus.naming, 'state_reported', tenant, id)),
    );
    expect(reported.body).toMatchObject({ state: { led: 'on' } });
  });

  it('reboots on `reboot`: answers, drops off (last will) and comes back online', async () => {
    const id = ids[2] as string;
    const presence = deviceSubject(bus.naming, 'presence', tenant, id);
    const before = (await lastOn('DEVICE', presence))?.count ?? 0;
    const command = {
      msg_id: 'reboot-1',
      ts: Date.now(),
      schema_version: 1,
      command: { name: 'reboot', params: {} },
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    await publish(bus, commandSubject(bus.naming, tenant, id), command, { msgId: 'reboot-1' });
    const answers = await waitFor(() =>
      allOn('DEVICE', deviceSubject(bus.naming, 'cmd_res', tenant, id), 2),
    );
    expect(answers.map((a) => a.status).sort()).toEqual(['accepted', 'succeeded']);
    // Offline (the will) then online again: two more presence messages, the last one online.
    const states = await waitFor(async () => {
      const all = await allOn('DEVICE', presence, before + 2);
      return all && all.at(-1)?.state === 'online' ? all.slice(before) : null;
    });
    expect(states.map((p) => p.state)).toContain('offline');
    await waitFor(() => (sim?.onlineCount() === FLEET ? true : null));
  });

  it('goes offline on stop', async () => {
    await sim?.stop();
    expect(sim?.onlineCount()).toBe(0);
    for (const id of ids) {
      await waitFor(async () => ((await getDevice(id)).connectivity === 'offline' ? true : null));
    }
  });
});
