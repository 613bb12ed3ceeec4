// Ingress replicas of one share group on the real broker and NATS. The broker keeps giving a
// disconnected persistent session its turn of a shared subscription, so a replica that stops
// hands its subscriptions to another replica that is up; the last one keeps them and the
// broker queues for its return. Nothing waits in a stopped replica's session, nothing is lost.
import { type MqttClient } from 'mqtt';
import { TEST_NATS_URL, TEST_REDIS_URL, waitFor } from '@drover/testing';
import { type MqttIngress, startMqttIngress } from '../../src/app';
import { loadIngressConfig } from '../../src/config';
import { type Pipeline, purgeSessions, startPipeline, TEST_MQTT_URL } from './pipeline.harness';

jest.setTimeout(120_000);

describe('ingress replicas of one share group', () => {
  let p: Pipeline;
  let device: MqttClient;
  const others: MqttIngress[] = [];
  const clientIds = new Set<string>();
  let sent = 0;

  const env = { MQTT_CONNECTIONS: '2', MQTT_ANSWER_CONNECTIONS: '1' };
  const startReplica = async (name: string): Promise<MqttIngress> => {
    const ingress = await startMqttIngress(
      loadIngressConfig({
        NATS_URL: TEST_NATS_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: p.ns,
        LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
        ENSURE_STREAMS: 'false',
        OPS_PORT: '0',
        MQTT_URL: TEST_MQTT_URL,
        MQTT_TOPIC_PREFIX: p.ns,
        MQTT_CLIENT_ID: `${p.ns}-${name}`,
        ...env,
      }),
    );
    others.push(ingress);
    for (const id of ingress.clientIds) clientIds.add(id);
    return ingress;
  };

  /** Telemetry messages the ingress replicas stored in the namespace's TELEMETRY stream. */
  const stored = async (): Promise<number> =>
    (await p.bus.jsm.streams.info(p.bus.naming.stream('TELEMETRY'))).state.messages;

  const publish = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 1) {
      const body = { msg_id: `m${sent}`, ts: Date.now(), schema_version: 1, metrics: { i } };
      await device.publishAsync(p.topic('d0', 'telemetry'), JSON.stringify(body), { qos: 1 });
      sent += 1;
    }
  };

  /** Until every message sent so far is stored (a message left in a session never is). */
  const allStored = () => waitFor(async () => (await stored()) === sent, { timeoutMs: 15_000 });

  beforeAll(async () => {
    p = await startPipeline({ label: 'handoff', devices: 1, ingestEnv: false, ingressEnv: env });
    for (const id of p.ingress.clientIds) clientIds.add(id);
    device = await p.connectDevice('d0');
  });
  afterAll(async () => {
    await Promise.all(others.map((o) => o.stop()));
    await p?.stop();
    await purgeSessions(TEST_MQTT_URL, [...clientIds]);
  });

  it('a replica that stops while another is up hands its share over', async () => {
    const b = await startReplica('b');
    await publish(40);
    await allStored();
    await p.ingress.stop();
    // Both sessions held the subscriptions: without the hand-off about half of these would wait
    // in the stopped replica's sessions.
    await publish(60);
    await allStored();
    expect(sent).toBe(100);
    await b.stop();
  });

  it('the last replica keeps its subscriptions: what comes while it is away waits for it', async () => {
    // Every replica is stopped now (the last one, b, kept its subscriptions).
    await publish(30);
    const before = await stored();
    expect(before).toBe(sent - 30);
    await startReplica('b');
    await allStored();
  });

  it('of two replicas stopping at once, one keeps its subscriptions: nothing is lost', async () => {
    const c = await startReplica('c');
    const b = others[others.length - 2] as MqttIngress;
    await Promise.all([b.stop(), c.stop()]);
    await publish(30);
    await startReplica('b');
    await startReplica('c');
    await allStored();
    expect(sent).toBe(160);
  });
});
