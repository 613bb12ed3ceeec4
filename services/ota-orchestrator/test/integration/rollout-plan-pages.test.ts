// create_deployment over a target read in several list_device_targets pages
// (ROLLOUT_TARGET_PAGE_SIZE 7): each page is split and stored while the next is read, and the
// plan is the one of the whole target: the same eligible devices, the same order and stage
// membership, the same total in deployment.created; a target refused only when its last page
// is known is rolled back (nothing stored, no event).
import { type Kysely, sql } from 'kysely';
import { rpcRequest } from '@drover/bus';
import { type Deployment } from '@drover/contracts';
import { DomainError } from '@drover/service-kit';
import { createTestDb, waitFor } from '@drover/testing';
import { cumulativeStageSizes, orderKey } from '../../src/domain/rollout-plan';
import { type Harness, startHarness } from './rollout.harness';

jest.setTimeout(180_000);

const PAGE = 7;
// 30 devices (five pages of 7, the last one short): every fifth of another hardware model,
// two decommissioned.
const IDS = Array.from({ length: 30 }, (_, i) => `p${String(i).padStart(3, '0')}`);
const OTHER_MODEL = new Set(IDS.filter((_, i) => i % 5 === 0));
const DECOMMISSIONED = new Set(['p003', 'p013']);
const ELIGIBLE = IDS.filter((id) => !OTHER_MODEL.has(id) && !DECOMMISSIONED.has(id));

/** The ids in the deployment's order (SHA-256 of deployment id and device id). */
const inOrder = (deploymentId: string, ids: string[]) =>
  ids
    .map((id) => ({ id, key: orderKey(deploymentId, id) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0))
    .map((d) => d.id);

describe('create_deployment over a target of several registry pages', () => {
  let h: Harness;
  let otaDb: Kysely<unknown>;
  const created: string[] = [];

  beforeAll(async () => {
    h = await startHarness('ota_plan_pages', { env: { ROLLOUT_TARGET_PAGE_SIZE: PAGE } });
    const registry = <T>(op: string, body: Record<string, unknown>) =>
      rpcRequest<T>(h.bus, 'device-registry', op, { tenant: h.tenant, ...body });
    const create = (id: string) =>
      registry('create_device', {
        device_id: id,
        device_type: 'sensor',
        hardware_id: `hw-${id}`,
        hardware_model: OTHER_MODEL.has(id) ? 'rev-z' : 'rev-b',
      });
    await waitFor(() => create(IDS[0]!), { timeoutMs: 10_000 });
    for (let i = 1; i < IDS.length; i += 10) await Promise.all(IDS.slice(i, i + 10).map(create));
    for (const id of DECOMMISSIONED) await registry('decommission_device', { device_id: id });
    await registry('create_group', {
      group_id: 'half',
      name: 'half',
      device_ids: IDS.slice(0, 15),
    });
    await h.register('2.0.0');
    otaDb = await createTestDb(h.schema, { poolMax: 1 });
  });
  afterAll(async () => {
    for (const id of created) {
      await h.rpc('abort_deployment', { deployment_id: id }).catch((err: unknown) => {
        void err; // already finished
      });
    }
    await otaDb?.destroy();
    await h?.stop();
  });

  const deploy = async (body: Record<string, unknown>): Promise<Deployment> => {
    const d = await h.deploy({
      rollout_config: { stages: [10, 50, 100], soak_duration_minutes: 60 },
      ...body,
    });
    created.push(d.deployment_id);
    return d;
  };

  it('stores every eligible device of every page, in the order of the whole target', async () => {
    const d = await deploy({ target: { filter: {} } });
    expect(d.total_devices).toBe(ELIGIBLE.length);
    const rows = await h.devices(d.deployment_id);
    expect(rows.map((r) => r.device_id)).toEqual(inOrder(d.deployment_id, ELIGIBLE));
    expect(rows.every((r) => r.previous_version === null && r.status === 'pending')).toBe(true);
    const keys = await sql<{ device_id: string; order_key: string }>`
      select device_id, order_key from deployment_devices
      where deployment_id = ${d.deployment_id}`.execute(otaDb);
    for (const r of keys.rows) expect(r.order_key).toBe(orderKey(d.deployment_id, r.device_id));

    // Stage 1 takes the first devices of that order.
    const started = await h.until(d.deployment_id, (x) => (x.current_stage ?? -1) >= 0);
    const size = cumulativeStageSizes(ELIGIBLE.length, [10, 50, 100], 1)[0]!;
    expect(started.stages[0]!.devices).toBe(size);
    const stage0 = (await h.devices(d.deployment_id)).filter((r) => r.stage === 0);
    expect(stage0.map((r) => r.device_id)).toEqual(
      inOrder(d.deployment_id, ELIGIBLE).slice(0, size),
    );
    const event = await waitFor(
      () =>
        h.events.find(
          (e) => e.type === 'drover.deployment.created.v1' && e.subject === d.deployment_id,
        ) ?? null,
      { timeoutMs: 30_000, description: 'deployment.created' },
    );
    expect(event.data).toMatchObject({ total_devices: ELIGIBLE.length });
  });

  it("pages a group's active members", async () => {
    const d = await deploy({ target: { group: 'half' } });
    const members = ELIGIBLE.filter((id) => IDS.indexOf(id) < 15);
    expect(d.total_devices).toBe(members.length);
    const rows = await h.devices(d.deployment_id);
    expect(rows.map((r) => r.device_id)).toEqual(inOrder(d.deployment_id, members));
  });

  it('refuses a target whose pages hold no eligible device, storing nothing', async () => {
    const before = await sql<{ n: string }>`
      select (select count(*) from deployments) + (select count(*) from deployment_devices) as n
    `.execute(otaDb);
    const refused = await h
      .deploy({ target: { filter: { hardware_model: 'rev-z' } } })
      .then(() => null)
      .catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(DomainError);
    expect((refused as DomainError).code).toBe('deployment_hardware_mismatch');
    expect((refused as DomainError).detail).toContain('p000');
    const after = await sql<{ n: string }>`
      select (select count(*) from deployments) + (select count(*) from deployment_devices) as n
    `.execute(otaDb);
    expect(after.rows[0]!.n).toBe(before.rows[0]!.n);
  });
});
