// The generated mTLS Mosquitto config against a real broker and real mqtt.js clients: who may
// connect where, and what each identity may publish and subscribe.
import { waitFor } from '@drover/testing';
import { createIntermediateCa, createRootCa, INGRESS_IDENTITY } from '@drover/pki';
import type { MqttClient } from 'mqtt';
import {
  clientCert,
  closeAll,
  collect,
  connectTls,
  expectRefused,
  publish,
  startSecureBroker,
  subscribeGranted,
  type BrokerFixture,
} from './broker.harness';

let fx: BrokerFixture;
let ingress: MqttClient;
let inbox: Array<{ topic: string; payload: string }>;
let fleetCa: string[];
/** A well-behaved device whose telemetry marks "everything published before has been routed". */
let witness: MqttClient;

const WITNESS_TOPIC = 'acme/sensor/dev-witness/telemetry';

function port(listener: 'fleet' | 'provisioning' | 'platform'): number {
  return fx.broker.ports[listener];
}

async function device(cn: string, clientId?: string): Promise<MqttClient> {
  const identity = await clientCert(fx.broker.pki.fleet, cn);
  return connectTls({ port: port('fleet'), identity, ca: fleetCa, clientId });
}

/**
 * Mosquitto routes a QoS 1 message before it sends the PUBACK, and it is single-threaded: once
 * the witness' marker (published after the PUBACKs) reaches the ingress, every earlier publish
 * has been routed or dropped. No sleeps.
 */
async function routed(): Promise<void> {
  const marker = `marker-${Math.random()}`;
  await publish(witness, WITNESS_TOPIC, marker);
  await waitFor(() => inbox.some((m) => m.payload === marker), { timeoutMs: 5000 });
}

/** Publishes `payload` on each topic and tells whether the ingress received any of them. */
async function ingressReceives(client: MqttClient, topics: string[]): Promise<string[]> {
  const payload = `probe-${Math.random()}`;
  for (const t of topics) await publish(client, t, payload);
  await routed();
  return inbox.filter((m) => m.payload === payload).map((m) => m.topic);
}

beforeAll(async () => {
  fx = await startSecureBroker();
  fleetCa = fx.broker.pki.fleet.chainPems;
  const identity = await clientCert(fx.broker.pki.service, INGRESS_IDENTITY, {
    profile: 'service',
  });
  ingress = await connectTls({ port: port('platform'), identity, ca: fleetCa });
  inbox = collect(ingress);
  const group = fx.broker.shareGroup;
  const granted = await subscribeGranted(ingress, [
    `$share/${group}/+/+/+/#`,
    `$share/${group}/provisioning/+/req`,
  ]);
  expect(granted).toEqual([1, 1]);
  witness = await device('dev-witness');
});

afterAll(async () => {
  await closeAll();
  await fx?.destroy();
});

describe('fleet listener', () => {
  it('a device publishes under its own root and the ingress receives it', async () => {
    const dev = await device('dev-a', 'dev-a');
    const own = ['acme/sensor/dev-a/telemetry', 'acme/sensor/dev-a/cmd/res'];
    expect(await ingressReceives(dev, own)).toEqual(own);
  });

  it("device A's publishes under B's root, provisioning or $-topics are dropped", async () => {
    const a = await device('dev-a2');
    const foreign = [
      'acme/sensor/dev-b/telemetry',
      'acme/sensor/dev-b/cmd',
      'dev-a2/telemetry',
      'provisioning/hw-1/req',
      'provisioning/hw-1/res',
    ];
    expect(await ingressReceives(a, foreign)).toEqual([]);
  });

  it("device A receives nothing of B's, even subscribed to # or B's root", async () => {
    const a = await device('dev-a3');
    const got = collect(a);
    // The default ACL plugin checks read rights per delivered message, not at SUBSCRIBE time
    // (mosquitto 2.0 grants the SUBACK): what matters is that nothing is delivered.
    await subscribeGranted(a, ['#', 'acme/sensor/dev-b/#', '+/+/+/cmd', 'provisioning/+/res']);
    await subscribeGranted(a, ['acme/sensor/dev-a3/cmd']);
    await publish(ingress, 'acme/sensor/dev-b/cmd', 'for-b');
    await publish(ingress, 'provisioning/hw-1/res', 'for-hw-1');
    await publish(witness, WITNESS_TOPIC, 'witness-telemetry');
    await publish(ingress, 'acme/sensor/dev-a3/cmd', 'for-a3');
    await waitFor(() => got.some((m) => m.payload === 'for-a3'), { timeoutMs: 5000 });
    expect(got.map((m) => m.payload)).toEqual(['for-a3']);
  });

  it('a device in a guessed share group takes nothing from the ingress', async () => {
    // Mosquitto grants any $share subscription; a device in the ingress' real group would get
    // (and the ACL would then drop) every other message. The group name is a secret.
    expect(fx.broker.shareGroup).toMatch(/^ingress-[0-9a-f]{32}$/);
    const thief = await device('dev-thief');
    const stolen = collect(thief);
    await subscribeGranted(thief, ['$share/ingress/+/+/+/#', '$share/drover/+/+/+/#']);
    const payloads: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = `share-${i}-${Math.random()}`;
      payloads.push(p);
      await publish(witness, WITNESS_TOPIC, p);
    }
    await routed();
    expect(stolen).toEqual([]);
    expect(payloads.filter((p) => inbox.some((m) => m.payload === p))).toEqual(payloads);
  });

  it('a bootstrap certificate is refused on the fleet listener', async () => {
    const identity = await clientCert(fx.broker.pki.bootstrap, 'hw-1', { profile: 'bootstrap' });
    await expectRefused({ port: port('fleet'), identity, ca: fleetCa });
  });

  it('an expired certificate is refused', async () => {
    const tenDaysAgo = new Date(Date.now() - 10 * 86_400_000);
    const identity = await clientCert(fx.broker.pki.fleet, 'dev-old', {
      now: tenDaysAgo,
      validityDays: 1,
    });
    expect(new Date(identity.notAfter).getTime()).toBeLessThan(Date.now());
    await expectRefused({ port: port('fleet'), identity, ca: fleetCa });
  });

  it('a certificate from another CA with the same names is refused', async () => {
    const otherRoot = await createRootCa({ commonName: 'Drover Root CA' });
    const otherFleet = await createIntermediateCa(otherRoot, { commonName: 'Drover Fleet CA' });
    const identity = await clientCert(otherFleet, 'dev-a');
    await expectRefused({ port: port('fleet'), identity, ca: fleetCa });
  });

  // Client ids with MQTT wildcards, or another device's id: the fleet listener replaces the
  // client id by the certificate CN (use_username_as_clientid), so none of them matters.
  it.each([
    ['+', 'dev-plus'],
    ['#', 'dev-hash'],
    ['a/+', 'dev-slash'],
  ])('client id %p is replaced by the CN and gives no extra rights', async (clientId, cn) => {
    const dev = await device(cn, clientId);
    const got = collect(dev);
    const own = `acme/sensor/${cn}/telemetry`;
    expect(await ingressReceives(dev, [own])).toEqual([own]);
    await subscribeGranted(dev, ['#']);
    expect(await ingressReceives(dev, ['acme/sensor/dev-b/telemetry', 'x/y/a/z'])).toEqual([]);
    await publish(ingress, 'acme/sensor/dev-b/cmd', 'not-for-you');
    await routed();
    expect(got.filter((m) => m.payload === 'not-for-you')).toEqual([]);
  });

  it("a device using another device's client id does not take over its session", async () => {
    const victim = await device('dev-victim');
    let victimClosed = false;
    victim.on('close', () => {
      victimClosed = true;
    });
    const attacker = await device('dev-attacker', 'dev-victim');
    expect(await ingressReceives(attacker, ['acme/sensor/dev-victim/telemetry'])).toEqual([]);
    expect(await ingressReceives(victim, ['acme/sensor/dev-victim/telemetry'])).toEqual([
      'acme/sensor/dev-victim/telemetry',
    ]);
    expect(victimClosed).toBe(false);
  });

  it('device and bootstrap certificates are refused on the platform listener', async () => {
    const dev = await clientCert(fx.broker.pki.fleet, INGRESS_IDENTITY);
    await expectRefused({ port: port('platform'), identity: dev, ca: fleetCa });
    const boot = await clientCert(fx.broker.pki.bootstrap, 'hw-9', { profile: 'bootstrap' });
    await expectRefused({ port: port('platform'), identity: boot, ca: fleetCa });
  });

  it('the service identity is refused on the fleet listener', async () => {
    const identity = await clientCert(fx.broker.pki.service, INGRESS_IDENTITY, {
      profile: 'service',
    });
    await expectRefused({ port: port('fleet'), identity, ca: fleetCa });
  });
});

describe('provisioning listener', () => {
  it('a bootstrap identity publishes its own request and reads only its own answer', async () => {
    const identity = await clientCert(fx.broker.pki.bootstrap, 'hw-1', { profile: 'bootstrap' });
    const dev = await connectTls({
      port: port('provisioning'),
      identity,
      ca: fleetCa,
      clientId: 'bootstrap-hw-1',
    });
    expect(await ingressReceives(dev, ['provisioning/hw-1/req'])).toEqual([
      'provisioning/hw-1/req',
    ]);
    const foreign = ['provisioning/hw-2/req', 'provisioning/hw-1/res', 'acme/sensor/hw-1/status'];
    expect(await ingressReceives(dev, foreign)).toEqual([]);
    const answers = collect(dev);
    await subscribeGranted(dev, ['provisioning/hw-1/res', 'provisioning/+/res', '#']);
    await publish(ingress, 'provisioning/hw-2/res', 'for-hw-2');
    await publish(ingress, 'acme/sensor/dev-a/cmd', 'for-dev-a');
    await publish(ingress, 'provisioning/hw-1/res', 'welcome');
    await waitFor(() => answers.some((m) => m.payload === 'welcome'), { timeoutMs: 5000 });
    expect(answers.map((m) => m.payload)).toEqual(['welcome']);
  });

  it('a fleet certificate is refused on the provisioning listener', async () => {
    const identity = await clientCert(fx.broker.pki.fleet, 'dev-a');
    await expectRefused({ port: port('provisioning'), identity, ca: fleetCa });
  });
});
