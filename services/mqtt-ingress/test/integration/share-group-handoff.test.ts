// Ingress replicas of one share group on the real broker and NATS. The broker keeps giving a
// disconnected persistent session its turn of a shared subscription, so a replica that stops
// hands its subscriptions to another replica that is up; the last one keeps them and the
// broker queues for its return. Nothing waits in a stopped replica's session, nothing is lost.
// Replicas of the two roles (INGRESS_ROLE) split the work, and a replica hands over only the
// traffic another one handles.
import { type MqttClient } from 'mqtt';
import { publish as busPublish } from '@drover/bus';
import { commandSubject } from '@drover/contracts';
import { TEST_NATS_URL, waitFor } from '@drover/testing';
import { type MqttIngress } from '../../src/app';
import { loadIngressConfig } from '../../src/config';
import { type Pipeline, replicas, startPipeline, storedIn } from './pipeline.harness';

jest.setTimeout(120_000);

const env = { MQTT_CONNECTIONS: '2', MQTT_ANSWER_CONNECTIONS: '1' };

describe('ingress replicas of one share group', () => {
  let p: Pipeline;
  let device: MqttClient;
  const set = replicas(() => p, env);
  const others = set.started;
  let sent = 0;

  const stored = () => storedIn(p, 'TELEMETRY');

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
    device = await p.connectDevice('d0');
  });
  afterAll(() => set.stopAll());

  it('a replica that stops while another is up hands its share over', async () => {
    const b = await set.start('b');
    await publish(40);
    await allStored();
    await p.ingress.stop();
    // Both replicas' sessions held the subscriptions: without the hand-off, some of these (16
    // of 60 in a run) would wait in the stopped replica's sessions.
    await publish(60);
    await allStored();
    expect(sent).toBe(100);
    await b.stop();
  });

  it('the last replica keeps its subscriptions: what comes while it is away waits', async () => {
    // Every replica is stopped now (the last one, b, kept its subscriptions).
    await publish(30);
    const before = await stored();
    expect(before).toBe(sent - 30);
    await set.start('b');
    await allStored();
  });

  it('of two replicas stopping at once, one keeps its subscriptions: nothing is lost', async () => {
    const c = await set.start('c');
    const b = others[others.length - 2] as MqttIngress;
    await Promise.all([b.stop(), c.stop()]);
    await publish(30);
    await set.start('b');
    await set.start('c');
    await allStored();
    expect(sent).toBe(160);
  });

  it('a replica that hands over still handles what its sessions already held', async () => {
    // b and c run again (the test before); a burst lands in both, and c stops in the middle of
    // it: what the broker had already queued for c's sessions is c's to handle before it goes.
    const c = others[others.length - 1] as MqttIngress;
    const burst: Promise<unknown>[] = [];
    for (let i = 0; i < 300; i += 1) {
      const body = { msg_id: `m${sent}`, ts: Date.now(), schema_version: 1, metrics: { i } };
      burst.push(device.publishAsync(p.topic('d0', 'telemetry'), JSON.stringify(body), { qos: 1 }));
      sent += 1;
    }
    await c.stop();
    await Promise.all(burst);
    await allStored();
  });
});

describe('ingress replicas of the two roles', () => {
  let p: Pipeline;
  let device: MqttClient;
  const set = replicas(() => p, env);

  beforeAll(async () => {
    p = await startPipeline({ label: 'roles', devices: 1, ingestEnv: false, ingressEnv: env });
    device = await p.connectDevice('d0');
    await device.subscribeAsync(p.topic('d0', 'cmd'), { qos: 1 });
  });
  afterAll(() => set.stopAll());

  const telemetry = (n: number) =>
    JSON.stringify({ msg_id: `t${n}`, ts: Date.now(), schema_version: 1, metrics: { n } });
  const answer = (n: number) =>
    JSON.stringify({
      msg_id: `a${n}`,
      ts: Date.now(),
      schema_version: 1,
      cmd_id: `c${n}`,
      status: 'succeeded',
    });

  it('a `devices` and a `commands` replica split the traffic between them', async () => {
    // The pipeline's own replica (`all`) hands everything over to the two.
    await set.start('dev', 'devices');
    await set.start('cmd', 'commands');
    await p.ingress.stop();
    for (let n = 0; n < 20; n += 1) {
      await device.publishAsync(p.topic('d0', 'telemetry'), telemetry(n), { qos: 1 });
    }
    await waitFor(async () => (await storedIn(p, 'TELEMETRY')) === 20);
    const got = new Promise<string>((resolve) =>
      device.once('message', (_t, payload) => resolve(payload.toString())),
    );
    const command = {
      msg_id: 'c1',
      ts: Date.now(),
      schema_version: 1,
      command: { name: 'ping', params: {} },
      expires_at: new Date(Date.now() + 60_000).toISOString(),
    };
    await busPublish(p.bus, commandSubject(p.bus.naming, p.tenant, 'd0'), command, {
      msgId: 'c1',
    });
    expect(JSON.parse(await got)).toEqual(command);
    const before = await storedIn(p, 'DEVICE');
    await device.publishAsync(p.topic('d0', 'cmd/res'), answer(1), { qos: 1 });
    // The answer on DEVICE (the command's broker ack rides on it, or comes on its own).
    await waitFor(async () => (await storedIn(p, 'DEVICE')) >= before + 1);
  });

  it('a replica hands over only the traffic another one handles', async () => {
    const [dev, cmd] = set.started as [MqttIngress, MqttIngress];
    // `all` next to `devices` only: the answers stay with `all`, telemetry goes to `devices`.
    const all = await set.start('all2', 'all');
    await cmd.stop();
    await all.stop();
    const telemetryBefore = await storedIn(p, 'TELEMETRY');
    const deviceBefore = await storedIn(p, 'DEVICE');
    for (let n = 2; n < 7; n += 1) {
      await device.publishAsync(p.topic('d0', 'cmd/res'), answer(n), { qos: 1 });
    }
    for (let n = 100; n < 120; n += 1) {
      await device.publishAsync(p.topic('d0', 'telemetry'), telemetry(n), { qos: 1 });
    }
    // Telemetry: all of it through `devices`, none waiting in the stopped replica's sessions.
    await waitFor(async () => (await storedIn(p, 'TELEMETRY')) === telemetryBefore + 20);
    // Answers (sent before that telemetry): nobody handles them now; they wait in the sessions
    // `all` kept ...
    expect(await storedIn(p, 'DEVICE')).toBe(deviceBefore);
    // ... and come when it is back.
    await set.start('all2', 'commands');
    await waitFor(async () => (await storedIn(p, 'DEVICE')) === deviceBefore + 5);
    await dev.stop();
  });

  it('refuses a `commands` replica without commands', () => {
    expect(() =>
      loadIngressConfig({
        NATS_URL: TEST_NATS_URL,
        INGRESS_ROLE: 'commands',
        COMMANDS_ENABLED: 'false',
      }),
    ).toThrow('INGRESS_ROLE: commands needs COMMANDS_ENABLED');
  });
});
