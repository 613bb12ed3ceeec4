// A private NATS restarted mid-stream: the ingress stops acknowledging to the broker while
// JetStream is away (the messages wait in the MQTT sessions), then catches up; nothing lost.
import { type MqttClient } from 'mqtt';
import { type PrivateNats, startPrivateNats, waitFor } from '@drover/testing';
import { type Pipeline, startPipeline } from './pipeline.harness';

jest.setTimeout(180_000);

// Per record, and batched (a batch whose publish timed out is retried record by record in
// other batches: the table's unique key keeps one row each).
describe.each([
  ['one message per record', '1'],
  ['batched', '64'],
])('ingress across a NATS restart, %s', (_mode, batchMax) => {
  let nats: PrivateNats;
  let p: Pipeline;
  const devices: MqttClient[] = [];

  beforeAll(async () => {
    nats = await startPrivateNats({ jetstream: true });
    p = await startPipeline({
      label: `natsrst${batchMax}`,
      devices: 10,
      natsUrl: nats.url,
      ingressEnv: { TELEMETRY_BATCH_MAX: batchMax },
    });
    for (const id of p.deviceIds) devices.push(await p.connectDevice(id));
  });
  afterAll(async () => {
    await p?.stop();
    await nats?.destroy();
  });

  it('stores every message sent before, during and after the outage', async () => {
    const perDevice = 100;
    let sent = 0;
    const sending = Promise.all(
      devices.map(async (client, d) => {
        for (let j = 0; j < perDevice; j += 1) {
          const body = { msg_id: `m${j}`, ts: Date.now(), schema_version: 1, metrics: { j } };
          await client.publishAsync(p.topic(`d${d}`, 'telemetry'), JSON.stringify(body), {
            qos: 1,
          });
          sent += 1;
          await new Promise((r) => setTimeout(r, 60));
        }
      }),
    );
    await waitFor(async () => (await p.rowCount()) >= 100, { timeoutMs: 30_000 });
    await nats.stop();
    const sentAtStop = sent;
    // The outage is the scenario: devices keep publishing to the broker for 3 s.
    await new Promise((r) => setTimeout(r, 3000));
    expect(sent).toBeGreaterThan(sentAtStop);
    await nats.start();
    await sending;
    await waitFor(async () => (await p.rowCount()) >= 10 * perDevice, {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    expect(await p.rowCount()).toBe(10 * perDevice);
    const retries = p.ingress.metrics.registry.getSingleMetric(
      'drover_ingress_publish_retries_total',
    );
    expect((await retries!.get()).values[0]?.value).toBeGreaterThan(0);
  });
});
