// 100 real MQTT devices publish 10,000 messages (JSON and CBOR, epoch-ms and RFC 3339 times,
// 5 % duplicates, 5 % malformed of every kind): the table holds exactly the distinct valid
// messages, each malformed one is rejected with its reason, nothing crashed.
import { encode } from 'cbor-x';
import { type MqttClient } from 'mqtt';
import { waitFor } from '@drover/testing';
import { type Pipeline, startPipeline } from './pipeline.harness';

// 10,000 QoS 1 messages: seconds when idle, minutes on a loaded 2-core machine.
jest.setTimeout(360_000);

type Malformed = { reason: string; topic?: 'tenant' | 'type' | 'unknown'; payload(): Buffer };

const base = (i: string) => ({ msg_id: i, ts: Date.now(), schema_version: 1 });
const MALFORMED: Malformed[] = [
  { reason: 'bad_json', payload: () => Buffer.from('{"msg_id": "x", "ts": ') },
  { reason: 'bad_cbor', payload: () => Buffer.from([0xa2, 0x66, 0x6d, 0x73]) },
  {
    reason: 'schema',
    payload: () => Buffer.from(JSON.stringify({ msg_id: 'x', schema_version: 1 })),
  },
  {
    reason: 'unknown_schema_version',
    payload: () => Buffer.from(JSON.stringify({ ...base('x'), schema_version: 2, metrics: {} })),
  },
  {
    reason: 'too_large',
    // 300 kB: over the ingress's 256 KiB, under the broker's 300 KiB max_packet_size
    // (deploy/mosquitto), which would otherwise cut the device off before the ingress sees it.
    payload: () =>
      Buffer.from(JSON.stringify({ ...base('x'), metrics: { s: 'x'.repeat(299_900) } })),
  },
  {
    reason: 'schema',
    payload: () =>
      Buffer.from(`{"msg_id":"x","ts":${Date.now()},"schema_version":1,"metrics":{"v":1e309}}`),
  },
  { reason: 'schema', payload: () => Buffer.from(encode({ ...base('x'), metrics: { v: NaN } })) },
  {
    reason: 'too_deep',
    payload: () => Buffer.from(`${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}`),
  },
  {
    reason: 'invalid_utf8',
    payload: () =>
      Buffer.concat([Buffer.from('{"msg_id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]),
  },
  {
    reason: 'unknown_device',
    topic: 'tenant',
    payload: () => Buffer.from(JSON.stringify({ ...base('x'), metrics: {} })),
  },
  {
    reason: 'wrong_device_type',
    topic: 'type',
    payload: () => Buffer.from(JSON.stringify({ ...base('x'), metrics: {} })),
  },
  {
    reason: 'unknown_device',
    topic: 'unknown',
    payload: () => Buffer.from(JSON.stringify({ ...base('x'), metrics: {} })),
  },
];

describe.each([
  ['one message per record', '1'],
  ['batched', '64'],
])('telemetry pipeline with mixed traffic, %s', (_mode, batchMax) => {
  let p: Pipeline;
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    // Mosquitto's defaults queue at most 1,020 unacked messages per session and drop the rest:
    // the burst of 10,000 needs enough shared-subscription sessions to be held (docs/telemetry.md).
    p = await startPipeline({
      label: `mixed${batchMax}`,
      devices: 100,
      ingressEnv: { MQTT_CONNECTIONS: '16', TELEMETRY_BATCH_MAX: batchMax },
    });
    for (const id of p.deviceIds) devices.push(await p.connectDevice(id));
  });
  afterAll(async () => {
    await p?.stop();
  });

  it('stores exactly the distinct valid messages and rejects the rest with reasons', async () => {
    const expectedReasons: Record<string, number> = {};
    let malformedCount = 0;
    let valid = 0;
    await Promise.all(
      devices.map(async (client, d) => {
        const id = p.deviceIds[d] as string;
        let last: { topic: string; payload: Buffer } | null = null;
        for (let j = 0; j < 100; j += 1) {
          if (j % 20 === 0) {
            const m = MALFORMED[malformedCount % MALFORMED.length] as Malformed;
            malformedCount += 1;
            expectedReasons[m.reason] = (expectedReasons[m.reason] ?? 0) + 1;
            const topic =
              m.topic === 'tenant'
                ? p.topic(id, 'telemetry', 'globex')
                : m.topic === 'type'
                  ? p.topic(id, 'telemetry', p.tenant, 'pump')
                  : m.topic === 'unknown'
                    ? p.topic(`ghost${d}`, 'telemetry')
                    : p.topic(id, 'telemetry');
            await client.publishAsync(topic, m.payload(), { qos: 1 });
            continue;
          }
          if (j % 20 === 10 && last) {
            await client.publishAsync(last.topic, last.payload, { qos: 1 });
            continue;
          }
          const now = Date.now() - j;
          const body = {
            msg_id: `m${j}`,
            ts: j % 3 === 0 ? new Date(now).toISOString() : now,
            schema_version: 1,
            metrics: { temp: 20 + (j % 7), on: j % 2 === 0, label: `s${d}` },
          };
          const payload =
            j % 2 === 0 ? Buffer.from(JSON.stringify(body)) : Buffer.from(encode(body));
          last = { topic: p.topic(id, 'telemetry'), payload };
          valid += 1;
          await client.publishAsync(last.topic, payload, { qos: 1 });
        }
      }),
    );
    expect(valid).toBe(9000);
    expect(malformedCount).toBe(500);

    await waitFor(async () => (await p.rowCount()) >= 9000, {
      timeoutMs: 180_000,
      intervalMs: 250,
    }).catch(async (err: unknown) => {
      const dump = async (m: { registry: { metrics(): Promise<string> } }) =>
        (await m.registry.metrics())
          .split('\n')
          .filter((l) => l.startsWith('drover_') && !l.includes('_bucket'));
      console.log(await p.rowCount(), await dump(p.ingress.metrics), await dump(p.ingest!.metrics));
      throw err;
    });
    const rejected = p.ingress.metrics.registry.getSingleMetric(
      'drover_ingress_messages_rejected_total',
    );
    const byReason = async () =>
      Object.fromEntries(
        (await rejected!.get()).values.map((v) => [String(v.labels.reason), v.value]),
      );
    await waitFor(async () => Object.values(await byReason()).reduce((a, b) => a + b, 0) >= 500, {
      timeoutMs: 60_000,
    });
    // The counter counts deliveries: a broker that redelivers an unacknowledged QoS 1 message
    // (a loaded machine) counts its reject again, so each reason is at least what was sent.
    const counted = await byReason();
    expect(Object.keys(counted).sort()).toEqual(Object.keys(expectedReasons).sort());
    for (const [reason, n] of Object.entries(expectedReasons)) {
      expect([reason, counted[reason]! >= n]).toEqual([reason, true]);
    }
    expect(await p.rowCount()).toBe(9000);

    // Every reject was reported on the bus as a telemetry.rejected event (one per message).
    const events = await p.bus.jsm.streams.info(p.bus.naming.stream('EVENTS'), {
      subjects_filter: '>',
    });
    const rejectedEvents = Object.entries(events.state.subjects ?? {})
      .filter(([s]) => s.endsWith('.telemetry.rejected'))
      .reduce((a, [, n]) => a + n, 0);
    expect(rejectedEvents).toBe(500);

    // Nothing crashed: the devices are still connected and a fresh message still lands.
    expect(devices.every((c) => c.connected)).toBe(true);
    const body = { msg_id: 'after', ts: Date.now(), schema_version: 1, metrics: { x: 1 } };
    await devices[0]!.publishAsync(p.topic('d0', 'telemetry'), JSON.stringify(body), { qos: 1 });
    await waitFor(async () => (await p.rowCount()) === 9001, { timeoutMs: 10_000 });

    // Batched mode really batched: fewer TELEMETRY messages than records, on `_batch` subjects.
    const telemetry = await p.bus.jsm.streams.info(p.bus.naming.stream('TELEMETRY'), {
      subjects_filter: '>',
    });
    const subjects = Object.entries(telemetry.state.subjects ?? {});
    const onBatch = subjects.filter(([s]) => s.endsWith('._batch')).reduce((a, [, n]) => a + n, 0);
    if (batchMax === '1') expect(onBatch).toBe(0);
    else {
      expect(onBatch).toBeGreaterThan(0);
      expect(telemetry.state.messages).toBeLessThan(9001);
    }
  });
});
