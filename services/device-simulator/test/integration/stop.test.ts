// Stopping never hangs on a connection that stopped answering: a device whose broker goes
// silent (a TCP proxy that drops everything the broker sends) while the offline status waits for
// its PUBACK still stops, in bounded time, and closes its socket. mqtt.js with `clean: false`
// and no automatic reconnect would wait for that PUBACK forever (CI saw a test's afterAll hang
// on the simulator's stop for 300 s).
import net from 'node:net';
import mqtt from 'mqtt';
import { createLogger, createMetrics } from '@drover/observability';
import { freePort, testNamespace, waitFor } from '@drover/testing';
import { type DeviceSimulator, startDeviceSimulator } from '../../src/app';
import { loadSimulatorConfig } from '../../src/config';

jest.setTimeout(60_000);

const MQTT_URL = new URL(process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883');
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** A TCP proxy to the shared broker that can stop passing the broker's bytes on. */
async function startProxy() {
  const port = await freePort();
  const state = { mute: false, open: 0, closed: 0 };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    state.open++;
    const upstream = net.connect(Number(MQTT_URL.port || 1883), MQTT_URL.hostname);
    sockets.add(client).add(upstream);
    client.on('data', (b) => upstream.write(b));
    upstream.on('data', (b) => {
      if (!state.mute) client.write(b);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('close', () => {
      state.closed++;
      end();
    });
    upstream.on('close', end);
    client.on('error', end);
    upstream.on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `mqtt://127.0.0.1:${port}`,
    state,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('stopping the simulator', () => {
  const ns = testNamespace('simstop');
  const tenant = ns;
  const id = `sim-${tenant}-0001`;
  let proxy: Awaited<ReturnType<typeof startProxy>>;
  let sim: DeviceSimulator | undefined;

  beforeAll(async () => {
    proxy = await startProxy();
  });

  afterAll(async () => {
    await proxy.close();
    // The device's session (clean: false) and its retained status go with the test.
    const c = await mqtt.connectAsync(MQTT_URL.toString(), {
      clientId: id,
      clean: true,
      reconnectPeriod: 0,
    });
    await c.publishAsync(`${ns}/${tenant}/sensor/${id}/status`, '', { retain: true, qos: 1 });
    await c.endAsync();
  });

  it('ends in bounded time when the broker stops answering before the offline PUBACK', async () => {
    sim = await startDeviceSimulator(
      loadSimulatorConfig({
        MQTT_URL: proxy.url,
        MQTT_TOPIC_PREFIX: ns,
        FLEET_SIZE: '1',
        SIM_TENANT: tenant,
        SIM_REGISTER: 'false',
        SIM_WORKERS: '0',
        SIM_TELEMETRY_INTERVAL_S: '3600',
        LOG_LEVEL: 'silent',
        OPS_PORT: '0',
      }),
      { logger: silent, metrics: createMetrics({ service: 'sim', defaultMetrics: false }) },
    );
    await sim.up;
    expect(sim.onlineCount()).toBe(1);
    expect(proxy.state.open).toBe(1);

    proxy.state.mute = true;
    const started = Date.now();
    await sim.stop();
    const took = Date.now() - started;
    // The offline status and the DISCONNECT get 5 s each, then the socket is dropped.
    expect(took).toBeLessThan(15_000);
    expect(sim.onlineCount()).toBe(0);
    await waitFor(() => (proxy.state.closed === 1 ? true : null), {
      timeoutMs: 5_000,
      description: 'the device socket closed',
    });
  });
});
