// The fleet split over worker threads (the built dist/fleet.worker.js, as `npm start` and the
// benchmark run it): every device of every slice comes online, sends telemetry and answers a
// command, the counts reach the main thread's metrics, and stop takes them all offline.
import mqtt, { type MqttClient } from 'mqtt';
import { createLogger, createMetrics } from '@drover/observability';
import { testNamespace, waitFor } from '@drover/testing';
import { type DeviceSimulator, startDeviceSimulator, workerCount } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';
import { planFleet } from '../../src/domain/fleet-plan';

jest.setTimeout(90_000);

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });
const FLEET = 6;

describe('device simulator in worker threads', () => {
  const ns = testNamespace('sim_wrk');
  const tenant = ns;
  const ids = planFleet({ tenant, size: FLEET, seed: 1 }).map((s) => s.deviceId);
  const metrics = createMetrics({ service: 'device-simulator', defaultMetrics: false });
  const status = new Map<string, string>();
  const telemetry = new Set<string>();
  const skews: number[] = [];
  const results: Record<string, unknown>[] = [];
  let observer: MqttClient;
  let sim: DeviceSimulator | undefined;
  const env = {
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    SIM_REGISTER: 'false',
    MQTT_URL,
    MQTT_TOPIC_PREFIX: ns,
    FLEET_SIZE: String(FLEET),
    SIM_TENANT: tenant,
    SIM_TELEMETRY_INTERVAL_S: '0.5',
    SIM_WORKERS: '2',
    // Links that are not loopback-only, and clocks that are off by up to an hour.
    SIM_NETWORK_DELAY_MS: '100',
    SIM_CLOCK_SKEW_RATE: '1',
    SIM_MAX_CLOCK_SKEW_MS: '3600000',
  };

  beforeAll(async () => {
    observer = await mqtt.connectAsync(MQTT_URL, { clean: true, reconnectPeriod: 0 });
    observer.on('message', (topic, payload) => {
      if (payload.length === 0) return;
      const id = topic.split('/')[3] as string;
      if (topic.endsWith('/telemetry')) {
        telemetry.add(id);
        // Every 5th message is CBOR; the JSON ones show the device's clock.
        if (payload[0] === 0x7b) {
          const ts = (JSON.parse(payload.toString()) as { ts: number | string }).ts;
          skews.push(Math.abs(new Date(ts).getTime() - Date.now()));
        }
      } else if (topic.endsWith('/cmd/res')) results.push(JSON.parse(payload.toString()));
      else if (topic.endsWith('/status')) {
        status.set(id, (JSON.parse(payload.toString()) as { state: string }).state);
      }
    });
    await observer.subscribeAsync(`${ns}/${tenant}/sensor/#`, { qos: 1 });
    sim = await startDeviceSimulator(loadSimulatorConfig(env), { logger: silent, metrics });
    await sim.up;
  });

  afterAll(async () => {
    await sim?.stop();
    await Promise.all(
      ids.map(async (clientId) => {
        const c = await mqtt.connectAsync(MQTT_URL, { clientId, clean: true, reconnectPeriod: 0 });
        await c.endAsync();
      }),
    );
    for (const id of ids) {
      await observer.publishAsync(`${ns}/${tenant}/sensor/${id}/status`, '', {
        retain: true,
        qos: 1,
      });
    }
    await observer.endAsync();
  });

  it('picks the number of threads from the fleet size', () => {
    const config = (over: Record<string, string>) => loadSimulatorConfig({ ...env, ...over });
    expect(workerCount(config({ SIM_WORKERS: '-1', FLEET_SIZE: '200' }))).toBe(0);
    expect(
      workerCount(
        config({ SIM_WORKERS: '-1', FLEET_SIZE: '5000', SIM_DEVICES_PER_THREAD: '2500' }),
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(workerCount(config({ SIM_WORKERS: '8', FLEET_SIZE: '3' }))).toBe(3);
  });

  it('brings every device of every worker online and reports the count', async () => {
    expect(sim?.workers).toBe(2);
    expect(sim?.devices).toHaveLength(0);
    await waitFor(() => ids.every((id) => status.get(id) === 'online'));
    await waitFor(() => sim?.onlineCount() === FLEET);
    await waitFor(() => ids.every((id) => telemetry.has(id)));
    await waitFor(async () =>
      /drover_sim_messages_sent_total\{[^}]*channel="telemetry"[^}]*\} [1-9]/.test(
        await metrics.registry.metrics(),
      ),
    );
    expect(await sim?.checks.fleet?.()).toBe(true);
  });

  it('stamps telemetry with skewed clocks', () => {
    expect(Math.max(...skews)).toBeGreaterThan(60_000);
  });

  it('answers commands from devices in both workers, through delayed links', async () => {
    const sentAt = Date.now();
    for (const id of [ids[0], ids[FLEET - 1]] as string[]) {
      await observer.publishAsync(
        `${ns}/${tenant}/sensor/${id}/cmd`,
        JSON.stringify({
          msg_id: `ping-${id}`,
          ts: Date.now(),
          schema_version: 1,
          command: { name: 'ping', params: {} },
          expires_at: new Date(Date.now() + 60_000).toISOString(),
        }),
        { qos: 1 },
      );
    }
    await waitFor(() => results.filter((r) => r.status === 'succeeded').length === 2);
    // In, accepted out, succeeded out: three one-way delays of at least 50 ms each.
    expect(Date.now() - sentAt).toBeGreaterThanOrEqual(150);
    const done = results.filter((r) => r.status === 'succeeded').map((r) => r.cmd_id);
    expect(done.sort()).toEqual([`ping-${ids[0]}`, `ping-${ids[FLEET - 1]}`].sort());
  });

  it('stops every worker: all devices offline', async () => {
    await sim?.stop();
    expect(sim?.onlineCount()).toBe(0);
    await waitFor(() => ids.every((id) => status.get(id) === 'offline'));
  });
});
