// The command forwarder keeps one device's commands in stream order even when the hand-over of
// an earlier one is slow (a registry lookup that takes long), while another device's commands
// are not held up by it. Real NATS (COMMANDS stream), real broker, a real mqtt.js subscriber.
import mqtt, { type MqttClient } from 'mqtt';
import { type Bus, type Consumer, publish } from '@drover/bus';
import { commandSubject } from '@drover/contracts';
import { createLogger, createMetrics } from '@drover/observability';
import { cleanupNamespace, testNamespace, waitFor, withTestBus } from '@drover/testing';
import { startCommandForwarders } from '../../src/adapters/nats/command.forwarder';
import { KeyedSerializer } from '../../src/keyed-serializer';
import { type Egress, openEgress } from '../../src/adapters/mqtt/egress.connection';
import { type DeviceMetaLookup } from '../../src/adapters/registry/device-meta.cache';
import { ingressMetrics } from '../../src/ingress.metrics';

jest.setTimeout(60_000);

const MQTT_URL = process.env.MQTT_URL ?? 'mqtt://127.0.0.1:1883';
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('KeyedSerializer', () => {
  it('runs one key in call order, other keys meanwhile, and goes on after a failure', async () => {
    const q = new KeyedSerializer();
    const log: string[] = [];
    let releaseA!: () => void;
    const slowA = new Promise<void>((r) => (releaseA = r));
    const a1 = q.run('a', async () => {
      await slowA;
      log.push('a1');
    });
    const a2 = q.run('a', async () => {
      log.push('a2');
      throw new Error('a2 failed');
    });
    const a3 = q.run('a', async () => {
      log.push('a3');
      return 3;
    });
    await q.run('b', async () => {
      log.push('b1');
    });
    expect(log).toEqual(['b1']);
    releaseA();
    await a1;
    await expect(a2).rejects.toThrow('a2 failed');
    await expect(a3).resolves.toBe(3);
    expect(log).toEqual(['b1', 'a1', 'a2', 'a3']);
    await waitFor(() => q.size === 0);
  });
});

describe('command forwarder ordering', () => {
  const ns = testNamespace('cmdorder');
  const tenant = 'acme';
  let bus: Bus;
  let egress: Egress;
  let device: MqttClient;
  let forwarders: Consumer[] = [];
  const arrived: { device: string; n: number; at: number }[] = [];
  const lookups = new Map<string, number>();

  beforeAll(async () => {
    bus = await withTestBus(ns);
    egress = openEgress(MQTT_URL, `${ns}-egress`, silent);
    device = await mqtt.connectAsync(MQTT_URL, { clientId: `${ns}-dev`, clean: true });
    await device.subscribeAsync(`${ns}/${tenant}/sensor/+/cmd`, { qos: 1 });
    device.on('message', (topic, payload) => {
      const id = topic.split('/')[3]!;
      arrived.push({
        device: id,
        n: (JSON.parse(payload.toString()) as { n: number }).n,
        at: Date.now(),
      });
    });
    // The registry stand-in: the first lookup of `slow` takes 3 s, every other one is at once.
    const meta: DeviceMetaLookup = {
      async get(t, deviceId) {
        const k = (lookups.get(deviceId) ?? 0) + 1;
        lookups.set(deviceId, k);
        if (deviceId === 'slow' && k === 1) await new Promise((r) => setTimeout(r, 3000));
        return { tenant: t, deviceId, deviceType: 'sensor', status: 'active' };
      },
      invalidate: () => undefined,
    };
    forwarders = await startCommandForwarders({
      bus,
      naming: bus.naming,
      prefix: ns,
      meta,
      egress,
      metrics: ingressMetrics(createMetrics({ service: 'test' })),
      logger: silent,
    });
  });
  afterAll(async () => {
    await Promise.all(forwarders.map((f) => f.stop()));
    await egress?.close();
    await device?.endAsync(true);
    await cleanupNamespace(ns, { bus });
    await bus?.close();
  });

  it('delivers a device in stream order despite a slow first hand-over; others go meanwhile', async () => {
    const N = 20;
    for (let n = 0; n < N; n++) {
      await publish(
        bus,
        commandSubject(bus.naming, tenant, 'slow'),
        { msg_id: `s${n}`, n },
        {
          msgId: `slow-${n}`,
        },
      );
      await publish(
        bus,
        commandSubject(bus.naming, tenant, 'fast'),
        { msg_id: `f${n}`, n },
        {
          msgId: `fast-${n}`,
        },
      );
    }
    await waitFor(() => arrived.length === 2 * N, { timeoutMs: 30_000 });
    const order = (id: string) => arrived.filter((a) => a.device === id).map((a) => a.n);
    const inOrder = Array.from({ length: N }, (_, n) => n);
    expect(order('slow')).toEqual(inOrder);
    expect(order('fast')).toEqual(inOrder);
    // `fast` was not queued behind `slow`'s 3 s lookup: all of it arrived before slow's first.
    const firstSlow = arrived.find((a) => a.device === 'slow')!.at;
    const lastFast = arrived.filter((a) => a.device === 'fast').at(-1)!.at;
    expect(lastFast).toBeLessThanOrEqual(firstSlow);
  });
});
