// Persistent sessions nobody opens again, on the real broker and NATS. The broker goes on giving
// such a session its turn of the shared subscriptions, so its share of the device traffic would
// wait there for good: sessions a replica no longer opens (a connection count lowered), and
// those of a replica that went away without handing over (crashed, then scaled away). The
// replicas' session ledger finds them, and they are retired: what they held is handled, their
// subscriptions are given up, nothing more waits in them.
import { type MqttClient } from 'mqtt';
import { waitFor } from '@drover/testing';
import { type MqttIngress } from '../../src/app';
import { openSessionLedger } from '../../src/adapters/nats/session-ledger.kv';
import { type Pipeline, replicas, startPipeline, storedIn } from './pipeline.harness';

jest.setTimeout(120_000);

const env = { MQTT_CONNECTIONS: '2', MQTT_ANSWER_CONNECTIONS: '1' };
// Fast enough for a test: entries are rewritten every 200 ms, swept every 250–750 ms.
const RETIRE_AFTER = { MQTT_SESSION_RETIRE_AFTER_MS: '1000' };

const retiredCount = async (ingress: MqttIngress, reason: 'own' | 'stale'): Promise<number> => {
  const m = await ingress.metrics.registry
    .getSingleMetric('drover_ingress_sessions_retired_total')
    ?.get();
  return m?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
};

describe('retiring persistent sessions nobody opens again', () => {
  let p: Pipeline;
  let device: MqttClient;
  const set = replicas(() => p, env);
  let sent = 0;

  const publish = async (n: number): Promise<void> => {
    for (let i = 0; i < n; i += 1) {
      const body = { msg_id: `m${sent}`, ts: Date.now(), schema_version: 1, metrics: { i } };
      await device.publishAsync(p.topic('d0', 'telemetry'), JSON.stringify(body), { qos: 1 });
      sent += 1;
    }
  };
  /** Until every message sent so far is stored (one left in a session never is). */
  const allStored = () =>
    waitFor(async () => (await storedIn(p, 'TELEMETRY')) === sent, { timeoutMs: 15_000 });

  beforeAll(async () => {
    p = await startPipeline({ label: 'retire', devices: 1, ingestEnv: false, ingressEnv: env });
    device = await p.connectDevice('d0');
  });
  afterAll(() => set.stopAll());

  it('a replica restarted with fewer connections retires the sessions it dropped', async () => {
    const wide = await set.start('r', 'all', { MQTT_CONNECTIONS: '4' });
    // The pipeline's own replica hands its share to `r` and stops.
    await p.ingress.stop();
    // The only replica keeps its subscriptions when it stops: what comes waits in its sessions.
    await wide.stop();
    await publish(40);
    expect(await storedIn(p, 'TELEMETRY')).toBe(0);
    const narrow = await set.start('r', 'all', { MQTT_CONNECTIONS: '2' });
    set.forget(`${p.ns}-r-2`, `${p.ns}-r-3`);
    // r-0 and r-1 resume their sessions; r-2 and r-3 are retired: their share comes too.
    await allStored();
    await waitFor(async () => (await retiredCount(narrow, 'own')) === 2);
    // From now on every message goes to a session that is open: without the retirement, the
    // broker would keep handing r-2 and r-3 their turns (about half of these).
    await publish(40);
    await allStored();
    const ledger = await openSessionLedger(p.bus, p.bus.naming);
    const entry = (await ledger.read(`${p.ns}-r`))?.entry;
    expect(entry?.retiring).toEqual([]);
    expect(entry?.sessions.map((s) => s.client_id).sort()).toEqual(
      [`${p.ns}-r-0`, `${p.ns}-r-1`, `${p.ns}-r-answers-0`, `${p.ns}-r-status`].sort(),
    );
    await narrow.stop();
  });

  it('another replica retires the sessions of one gone for longer than the delay', async () => {
    // `gone` goes without handing over (as a crash would), its sessions still subscribed; its
    // entry is no longer rewritten.
    const survivor = await set.start('s', 'all', RETIRE_AFTER);
    const gone = await set.start('g', 'all', { ...RETIRE_AFTER, MQTT_HANDOFF_QUIET_MS: '0' });
    await gone.stop();
    await publish(40);
    // A second later the survivor's sweep finds the entry stale: what waited in `gone`'s
    // sessions is handled, and their subscriptions are given up.
    await allStored();
    // The entries of the replicas stopped before (the pipeline's own, `r`) are stale too: four
    // sessions each, all retired, their entries gone.
    const ledger = await openSessionLedger(p.bus, p.bus.naming);
    const members = async () => (await ledger.list()).map((e) => e.entry.member);
    await waitFor(async () => (await members()).join() === `${p.ns}-s`);
    expect(await retiredCount(survivor, 'stale')).toBe(12);
    await publish(40);
    await allStored();
    expect((await ledger.read(`${p.ns}-s`))?.entry.claimed_by).toBeUndefined();
  });

  it('never retires a replica that is up', async () => {
    const survivor = set.started[set.started.length - 2] as MqttIngress;
    const other = await set.start('o', 'all', RETIRE_AFTER);
    const ledger = await openSessionLedger(p.bus, p.bus.naming);
    const retired = await retiredCount(survivor, 'stale');
    const before = (await ledger.read(`${p.ns}-o`))?.revision ?? 0;
    // Two heartbeats of `o` later, with the survivor sweeping in between: `o` is still its own.
    await waitFor(async () => ((await ledger.read(`${p.ns}-o`))?.revision ?? 0) >= before + 2);
    await survivor.sweep();
    await other.sweep();
    const entry = (await ledger.read(`${p.ns}-o`))?.entry;
    expect(entry?.claimed_by).toBeUndefined();
    expect(await retiredCount(survivor, 'stale')).toBe(retired);
    expect(await retiredCount(other, 'stale')).toBe(0);
    // Both take their share: everything is stored.
    await publish(40);
    await allStored();
    await other.stop();
    await survivor.stop();
  });

  it('refuses a second replica with the client id of one that runs', async () => {
    // The replicas of the test before are gone, the last one still subscribed: `u` retires it.
    const first = await set.start('u', 'all', RETIRE_AFTER);
    // `docker compose --scale` would start it so: the two would take each other's connections.
    await expect(set.start('u', 'all', RETIRE_AFTER)).rejects.toThrow(
      `MQTT_CLIENT_ID ${p.ns}-u is in use by a running ingress replica of share group ingress`,
    );
    await publish(20);
    await allStored();
    await first.stop();
    // Once the first is gone, the id is free again.
    await (await set.start('u')).stop();
  });
});
