// A healthy firmware reaches the whole fleet through every stage.
import { waitFor } from '@drover/testing';
import { eventTypes, FAST, type Harness, type SimDevice, startHarness } from './rollout.harness';

jest.setTimeout(180_000);

describe('rollout of a healthy firmware', () => {
  let h: Harness;
  let fleet: SimDevice[];

  beforeAll(async () => {
    h = await startHarness('ota_ok');
    fleet = await h.fleet(200, () => 'healthy');
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('goes through all five stages to completed, every device on the new version', async () => {
    await h.register('2.0.0');
    const created = await h.deploy({ target: { filter: { tags_all: [] } }, rollout_config: FAST });
    expect(created.status).toMatch(/pending|running/);
    expect(created.total_devices).toBe(200);

    const done = await h.until(created.deployment_id, (d) => d.status === 'completed', 150_000);
    expect(done.stages.map((s) => s.devices)).toEqual([2, 8, 10, 30, 150]);
    expect(done.succeeded).toBe(200);
    expect(done.failed + done.offline).toBe(0);
    expect(done.stages.every((s) => s.completed_at !== null)).toBe(true);

    expect(fleet.every((d) => d.version === '2.0.0')).toBe(true);
    expect(fleet.every((d) => d.updates.length === 1)).toBe(true);
    const rows = await h.devices(created.deployment_id);
    expect(rows.every((r) => r.status === 'succeeded' && r.running_version === '2.0.0')).toBe(true);

    // The order is a pseudo-random sample, not the first ids.
    const first = rows.filter((r) => r.stage === 0 || r.stage === 1).map((r) => r.device_id);
    expect(first.filter((id) => id < 'd0010').length).toBeLessThan(5);

    // The status is visible before its event is published (the outbox, after the commit).
    const types = await waitFor(() => {
      const t = eventTypes(h, created.deployment_id);
      return t.at(-1) === 'completed' ? t : null;
    });
    expect(types[0]).toBe('created');
    expect(types.filter((t) => t === 'stage_started')).toHaveLength(5);
    expect(types.filter((t) => t === 'stage_completed')).toHaveLength(5);
    expect(types[types.length - 1]).toBe('completed');
  });
});
