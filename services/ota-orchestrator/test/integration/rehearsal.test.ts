// rehearse_deployment through the RPC, with the real registry, firmware catalog and command
// gateway: the target is resolved and the firmware checked as create does, the outcome and blast
// radius come back, and nothing is written or sent (no deployment rows, no command, no event).
import { sql, type Kysely } from 'kysely';
import { type RehearsalReport } from '@drover/contracts';
import { DomainError } from '@drover/service-kit';
import { createTestDb } from '@drover/testing';
import { type Harness, type SimDevice, startHarness } from './rollout.harness';

jest.setTimeout(180_000);

async function refusedWith(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(DomainError);
    return (err as DomainError).code;
  }
  throw new Error('not refused');
}

async function rows(db: Kysely<unknown>, table: string): Promise<number> {
  const r = await sql<{ n: string }>`select count(*) as n from ${sql.table(table)}`.execute(db);
  return Number(r.rows[0]!.n);
}

describe('rehearse_deployment', () => {
  let h: Harness;
  let fleet: SimDevice[];
  let otaDb: Kysely<unknown>;
  let cmdDb: Kysely<unknown>;

  beforeAll(async () => {
    h = await startHarness('ota_rehearse');
    fleet = await h.fleet(20, () => 'healthy', 'r');
    await h.register('2.0.0');
    otaDb = await createTestDb(h.schema, { poolMax: 1 });
    cmdDb = await createTestDb(`${h.ns}_cmd`, { poolMax: 1 });
  });
  afterAll(async () => {
    await otaDb?.destroy();
    await cmdDb?.destroy();
    await h?.stop();
  });

  const deploymentEvents = async () => {
    const r = await sql<{ n: string }>`
      select count(*) as n from outbox where subject like '%deployment%'`.execute(otaDb);
    return Number(r.rows[0]!.n);
  };

  const rehearse = (body: Record<string, unknown>) =>
    h.rpc<RehearsalReport>('rehearse_deployment', {
      version: '2.0.0',
      device_type: 'sensor',
      target: { device_ids: fleet.map((d) => d.id) },
      ...body,
    });

  it('plays a fault-free rollout over the real target to completion', async () => {
    const r = await rehearse({ rollout_config: { stages: [10, 50, 100] } });
    expect(r).toMatchObject({
      dry_run: true,
      version: '2.0.0',
      outcome: 'completed',
      reason: null,
      stage: 2,
      total_devices: 20,
      hardware_mix: { 'rev-b': 20 },
      excluded: {},
      seed: 1,
    });
    expect(r.rollout_config.soak_duration_minutes).toBe(30);
    expect(r.stages.map((s) => s.devices)).toEqual([2, 8, 10]);
    expect(r.blast_radius).toMatchObject({ touched: 20, succeeded: 20, failed: 0 });
    expect(r.duration_minutes).toBeGreaterThanOrEqual(90);
  });

  it('reports the stage where the gate trips and the devices touched before it', async () => {
    const body = {
      target: { filter: { hardware_model: 'rev-b' } },
      rollout_config: { stages: [10, 50, 100], min_sample: 2 },
      faults: { failure_rate: 0.05, by_model: { 'rev-b': { failure_rate: 1 } } },
      seed: 42,
    };
    const r = await rehearse(body);
    expect(r).toMatchObject({ outcome: 'rolled_back', reason: 'error_rate', stage: 0 });
    expect(r.total_devices).toBeGreaterThanOrEqual(20);
    expect(r.blast_radius.touched).toBe(r.stages[0]!.devices);
    expect(r.blast_radius.touched).toBeLessThan(r.total_devices);
    expect(r.stages[1]!.devices).toBe(0);
    // deterministic from the seed
    expect(await rehearse(body)).toEqual(r);
  });

  it('refuses what create refuses, plus impossible fault rates', async () => {
    expect(await refusedWith(rehearse({ version: '9.9.9' }))).toBe('firmware_not_found');
    expect(await refusedWith(rehearse({ target: {} }))).toBe('deployment_bad_target');
    expect(await refusedWith(rehearse({ rollout_config: { stages: [50, 10, 100] } }))).toBe(
      'deployment_bad_config',
    );
    expect(await refusedWith(rehearse({ faults: { failure_rate: 0.7, offline_rate: 0.7 } }))).toBe(
      'rehearsal_bad_faults',
    );
  });

  it('wrote nothing and sent nothing', async () => {
    expect(await rows(otaDb, 'deployments')).toBe(0);
    expect(await rows(otaDb, 'deployment_devices')).toBe(0);
    expect(await deploymentEvents()).toBe(0);
    expect(await rows(cmdDb, 'commands')).toBe(0);
    expect(fleet.every((d) => d.updates.length === 0 && d.version === '1.0.0')).toBe(true);
    expect(h.events).toEqual([]);
    // The same config does create a real deployment (the rehearsal is not a broken path).
    const real = await h.deploy({
      target: { device_ids: [fleet[0]!.id] },
      rollout_config: { stages: [100] },
    });
    expect(real.total_devices).toBe(1);
    expect(await rows(otaDb, 'deployments')).toBe(1);
    expect(await deploymentEvents()).toBeGreaterThan(0);
    await h.rpc('abort_deployment', { deployment_id: real.deployment_id });
  });
});
