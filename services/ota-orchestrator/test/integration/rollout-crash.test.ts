// Crash safety and replicas: a rollout driven by two replicas drives each stage once; an
// orchestrator killed with SIGKILL mid-stage and restarted finishes the rollout, and no device
// gets the update twice.
import { type ChildProcess } from 'node:child_process';
import { waitFor } from '@drover/testing';
import { killChild, spawnOta } from './child/ota.child';
import { eventTypes, type Harness, type SimDevice, startHarness } from './rollout.harness';

jest.setTimeout(300_000);

describe('replicas and crashes', () => {
  let h: Harness;
  let child: ChildProcess | null = null;

  beforeAll(async () => {
    h = await startHarness('ota_crash', { replicas: 0 });
  });
  afterAll(async () => {
    if (child) await killChild(child, 'SIGKILL');
    await h?.stop();
  });

  it('two replicas: each stage started and completed once, each device updated once', async () => {
    const fleet = await h.fleet(30, () => 'healthy', 'r');
    const [a, b] = [await h.startReplica(), await h.startReplica()];
    try {
      await twoReplicas(fleet);
    } finally {
      await a.stop();
      await b.stop();
      h.replicas.length = 0;
    }
  });

  async function twoReplicas(fleet: SimDevice[]) {
    await h.register('2.0.0');
    const dep = await h.deploy({
      target: { device_ids: fleet.map((d) => d.id) },
      rollout_config: {
        stages: [10, 40, 100],
        soak_duration_minutes: 0.02,
        device_timeout_minutes: 1.5,
      },
    });
    const done = await h.until(dep.deployment_id, (d) => d.status === 'completed', 150_000);
    expect(done.succeeded).toBe(30);
    const off = fleet.filter((d) => d.updates.length !== 1 || d.version !== '2.0.0');
    expect(off.map((d) => [d.id, d.updates, d.version])).toEqual([]);
    const types = await waitFor(
      () => {
        const t = eventTypes(h, dep.deployment_id);
        return t.includes('completed') ? t : null;
      },
      { timeoutMs: 10_000 },
    );
    expect(types).toEqual([
      'created',
      'stage_started',
      'stage_completed',
      'stage_started',
      'stage_completed',
      'stage_started',
      'stage_completed',
      'completed',
    ]);
  }

  it('kill -9 mid-stage, restart: the rollout finishes and no device got the update twice', async () => {
    const fleet = await h.fleet(30, () => 'healthy', 'k');
    const env = {
      ...h.otaEnv,
      // A slow dispatch so the kill lands while a stage is half sent.
      ROLLOUT_DISPATCH_RATE_PER_S: '2',
    };
    child = await spawnOta(env);
    await h.register('2.5.0');
    const dep = await h.deploy({
      version: '2.5.0',
      target: { device_ids: fleet.map((d) => d.id) },
      rollout_config: {
        stages: [20, 100],
        soak_duration_minutes: 0.02,
        device_timeout_minutes: 1.5,
      },
    });
    // Mid-stage: the last stage started and part of it was sent.
    await h.until(
      dep.deployment_id,
      (d) => d.current_stage === 1 && d.stages[1]!.updating + d.stages[1]!.succeeded >= 2,
      120_000,
    );
    await killChild(child, 'SIGKILL');
    const atKill = await h.get(dep.deployment_id).catch(() => null);
    expect(atKill).toBeNull(); // nobody serves RPC while it is down
    const sentBefore = fleet.filter((d) => d.updates.length > 0).length;
    expect(sentBefore).toBeLessThan(30);

    child = await spawnOta({ ...env, ROLLOUT_DISPATCH_RATE_PER_S: '50' });
    const done = await h.until(dep.deployment_id, (d) => d.status === 'completed', 180_000);
    expect(done.succeeded).toBe(30);
    for (const d of fleet) {
      expect(d.updates).toHaveLength(1);
      expect(d.version).toBe('2.5.0');
    }
    await killChild(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
    child = null;
  });
});
