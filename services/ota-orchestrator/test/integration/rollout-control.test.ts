// Operator control: pause holds the rollout where it is, resume continues, a manual rollback
// returns every updated device, abort stops sending and leaves devices as they are, and an
// operation that does not apply is a 409.
import { type Deployment } from '@drover/contracts';
import { DomainError } from '@drover/service-kit';
import { type Harness, type SimDevice, startHarness } from './rollout.harness';
import { MAX_ROLLBACK_RESENDS } from '../../src/domain/rollout-device';

jest.setTimeout(240_000);

describe('operator control', () => {
  let h: Harness;
  let fleet: SimDevice[];
  const control = (op: string, id: string) =>
    h.rpc<Deployment>(`${op}_deployment`, { deployment_id: id, detail: 'test' });

  beforeAll(async () => {
    h = await startHarness('ota_ctl');
    fleet = await h.fleet(12, () => 'healthy', 'c');
    await h.register('2.0.0');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('pauses, resumes, rolls back by hand; refuses what does not apply', async () => {
    const dep = await h.deploy({
      target: { device_ids: fleet.map((d) => d.id) },
      rollout_config: { stages: [25, 50, 100], soak_duration_minutes: 0.05 },
    });
    await h.until(dep.deployment_id, (d) => d.stages[0]!.succeeded === 3);
    const paused = await control('pause', dep.deployment_id);
    expect(paused.status).toBe('paused');
    await expect(control('pause', dep.deployment_id)).rejects.toMatchObject({
      code: 'deployment_invalid_transition',
    });
    // Held: well past the 3 s soak, no further stage starts and nothing more is sent.
    await new Promise((r) => setTimeout(r, 6000));
    const held = await h.get(dep.deployment_id);
    expect(held.status).toBe('paused');
    expect(held.stages[1]!.started_at).toBeNull();
    expect(fleet.filter((d) => d.updates.length > 0)).toHaveLength(3);

    expect((await control('resume', dep.deployment_id)).status).toBe('running');
    await h.until(dep.deployment_id, (d) => d.stages[1]!.succeeded === 3);
    const rolling = await control('rollback', dep.deployment_id);
    expect(rolling).toMatchObject({ status: 'rolling_back', reason: 'manual' });
    const done = await h.until(dep.deployment_id, (d) => d.status === 'rolled_back');
    expect(done.reason).toBe('manual');
    const updated = fleet.filter((d) => d.updates.length > 0);
    expect(updated.length).toBeGreaterThanOrEqual(6);
    for (const d of updated) {
      // One rollback, or a few when the device reported its update's end after the first.
      expect(d.rollbacks.length).toBeGreaterThanOrEqual(1);
      expect(d.rollbacks.length).toBeLessThanOrEqual(1 + MAX_ROLLBACK_RESENDS);
      expect(d.version).toBe('1.0.0');
    }
    await expect(control('resume', dep.deployment_id)).rejects.toBeInstanceOf(DomainError);
    const sent = await h.replicas[0]!.metrics.registry.getSingleMetric(
      'drover_rollout_commands_total',
    )!.get();
    const count = (kind: string) =>
      sent.values.find((v) => v.labels.kind === kind && v.labels.outcome === 'sent')?.value;
    expect(count('update')).toBe(updated.length);
    expect(count('rollback')).toBe(updated.length);
    await expect(control('pause', 'no-such-deployment')).rejects.toMatchObject({
      code: 'deployment_not_found',
    });
  });

  it('abort stops sending and leaves devices as they are', async () => {
    await h.register('2.1.0');
    const before = new Map(fleet.map((d) => [d.id, d.updates.length]));
    const rollbacksBefore = fleet.reduce((n, d) => n + d.rollbacks.length, 0);
    const dep = await h.deploy({
      version: '2.1.0',
      target: { device_ids: fleet.map((d) => d.id) },
      rollout_config: { stages: [25, 100], soak_duration_minutes: 0.5 },
    });
    await h.until(dep.deployment_id, (d) => d.stages[0]!.succeeded === 3);
    const aborted = await control('abort', dep.deployment_id);
    expect(aborted).toMatchObject({ status: 'aborted', reason: 'aborted' });
    expect(aborted.finished_at).not.toBeNull();
    const rows = await h.devices(dep.deployment_id);
    expect(rows.filter((r) => r.status === 'succeeded')).toHaveLength(3);
    expect(rows.filter((r) => r.status === 'skipped')).toHaveLength(9);
    const took = fleet.filter((d) => d.updates.length > before.get(d.id)!);
    expect(took).toHaveLength(3);
    expect(took.every((d) => d.version === '2.1.0')).toBe(true);
    expect(fleet.reduce((n, d) => n + d.rollbacks.length, 0)).toBe(rollbacksBefore);
  });
});
