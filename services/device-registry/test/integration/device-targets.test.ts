// list_device_targets: compact rows (id, type, hardware model, firmware version, status) in
// keyset pages of up to 5,000, all devices of a type, a group's active members, or a filter.
import {
  type DeviceTarget,
  type DeviceTargetList,
  DeviceRegistryOps as Ops,
} from '@drover/contracts';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;
const T = 'targets';

beforeAll(async () => {
  h = await startHarness('reg_targets');
  const mk = (id: string, extra: Record<string, unknown> = {}) =>
    h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: id,
      hardware_id: `HW-${id}`,
      device_type: 'sensor',
      ...extra,
    });
  for (let i = 0; i < 7; i++) await mk(`t-${i}`, { hardware_model: i % 2 === 0 ? 'm1' : 'm2' });
  await mk('t-gw', { device_type: 'gw' });
  await h.rpc(Ops.decommissionDevice, { tenant: T, device_id: 't-6' });
  await h.rpc(Ops.createGroup, {
    tenant: T,
    group_id: 'grp',
    name: 'grp',
    device_ids: ['t-1', 't-2', 't-6'],
  });
  await h.rpc(Ops.createDevice, {
    tenant: 'other',
    device_id: 't-x',
    hardware_id: 'HW-t-x',
    device_type: 'sensor',
  });
}, 120_000);
afterAll(async () => {
  await h.close();
});

async function all(body: Record<string, unknown>): Promise<DeviceTarget[]> {
  const out: DeviceTarget[] = [];
  let cursor: string | null = null;
  do {
    const page: DeviceTargetList = await h.rpc<DeviceTargetList>(Ops.listDeviceTargets, {
      tenant: T,
      ...body,
      ...(cursor !== null && { cursor }),
    });
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor !== null);
  return out;
}

describe('list_device_targets', () => {
  it('pages every device of a type (any status) in compact rows', async () => {
    const rows = await all({ device_type: 'sensor', limit: 3 });
    expect(rows.map((d) => d.device_id)).toEqual(['t-0', 't-1', 't-2', 't-3', 't-4', 't-5', 't-6']);
    expect(rows[0]).toEqual({
      device_id: 't-0',
      device_type: 'sensor',
      hardware_model: 'm1',
      firmware_version: null,
      status: 'active',
    });
    expect(rows[6]!.status).toBe('decommissioned');
    expect((await all({})).length).toBe(8);
  });

  it('pages at the boundaries: a page exactly full ends the listing, pages of one', async () => {
    const full: DeviceTargetList = await h.rpc<DeviceTargetList>(Ops.listDeviceTargets, {
      tenant: T,
      device_type: 'sensor',
      limit: 7,
    });
    expect(full.items.length).toBe(7);
    expect(full.next_cursor).toBeNull();
    const short: DeviceTargetList = await h.rpc<DeviceTargetList>(Ops.listDeviceTargets, {
      tenant: T,
      device_type: 'sensor',
      limit: 6,
    });
    expect(short.items.map((d) => d.device_id)).toEqual(['t-0', 't-1', 't-2', 't-3', 't-4', 't-5']);
    expect(short.next_cursor).not.toBeNull();
    const ones = await all({ device_type: 'sensor', limit: 1 });
    expect(ones).toEqual(await all({ device_type: 'sensor', limit: 5000 }));
    expect(ones.length).toBe(7);
  });

  it("lists a group's active members and a filter's matches", async () => {
    expect((await all({ group: 'grp' })).map((d) => d.device_id)).toEqual(['t-1', 't-2']);
    const m2 = await all({ filter: { device_type: 'sensor', hardware_model: 'm2' } });
    expect(m2.map((d) => d.device_id)).toEqual(['t-1', 't-3', 't-5']);
  });

  it('refuses pages above 5,000, a bad cursor and group with filter', async () => {
    await expect(h.rpc(Ops.listDeviceTargets, { tenant: T, limit: 5001 })).rejects.toBeTruthy();
    await expect(
      h.rpc(Ops.listDeviceTargets, { tenant: T, cursor: 'nonsense' }),
    ).rejects.toMatchObject({ status: 400 });
    await expect(
      h.rpc(Ops.listDeviceTargets, { tenant: T, group: 'grp', filter: {} }),
    ).rejects.toMatchObject({ status: 400 });
  });
});
