// Group RPC ops against the real registry: static and dynamic groups, their devices, paging.
import {
  type DeviceList,
  DeviceRegistryOps as Ops,
  type Group,
  type GroupList,
} from '@drover/contracts';
import { matchesFilter } from '../../src/domain/group.rules';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;
const OTHER = 'globex';

beforeAll(async () => {
  h = await startHarness('reg_groups');
});
afterAll(async () => {
  await h.close();
});

describe('groups', () => {
  const G = 'groupy';
  beforeAll(async () => {
    const mk = (id: string, extra: Record<string, unknown>) =>
      h.rpc(Ops.createDevice, {
        tenant: G,
        device_id: id,
        hardware_id: `HW-${id}`,
        device_type: 'sensor',
        ...extra,
      });
    await mk('g-a', { tags: ['lab', 'eu'], attributes: { floor: 1 }, hardware_model: 'm1' });
    await mk('g-b', { tags: ['lab'], attributes: { floor: 2 }, hardware_model: 'm1' });
    await mk('g-c', { tags: ['lab', 'eu'], attributes: { floor: '1' }, device_type: 'gw' });
    await mk('g-d', { tags: ['lab', 'eu'], attributes: { floor: 1 } });
    await h.rpc(Ops.decommissionDevice, { tenant: G, device_id: 'g-d' });
  });

  it('creates, gets and lists a static group; lists its active members with pagination', async () => {
    const g = await h.rpc<Group>(Ops.createGroup, {
      tenant: G,
      group_id: 'static-1',
      name: 'Static',
      device_ids: ['g-b', 'g-a', 'g-d'],
    });
    expect(g).toMatchObject({
      group_id: 'static-1',
      kind: 'static',
      device_ids: ['g-a', 'g-b', 'g-d'],
      description: null,
    });
    await expect(h.rpc(Ops.getGroup, { tenant: G, group_id: 'static-1' })).resolves.toEqual(g);
    const page1 = await h.rpc<DeviceList>(Ops.listGroupDevices, {
      tenant: G,
      group_id: 'static-1',
      limit: 1,
    });
    expect(page1.items.map((d) => d.device_id)).toEqual(['g-a']);
    const page2 = await h.rpc<DeviceList>(Ops.listGroupDevices, {
      tenant: G,
      group_id: 'static-1',
      limit: 5,
      cursor: page1.next_cursor,
    });
    // g-d is decommissioned: not a target.
    expect(page2).toEqual({
      items: [expect.objectContaining({ device_id: 'g-b' })],
      next_cursor: null,
    });
    const filtered = await h.rpc<DeviceList>(Ops.listDevices, { tenant: G, group: 'static-1' });
    expect(filtered.items.map((d) => d.device_id)).toEqual(['g-a', 'g-b']);
  });

  it('refuses unknown members, duplicate ids and both kinds at once', async () => {
    await expect(
      h.rpc(Ops.createGroup, { tenant: G, name: 'x', device_ids: ['g-a', 'nope'] }),
    ).rejects.toMatchObject({ status: 400, detail: expect.stringContaining('nope') });
    await expect(
      h.rpc(Ops.createGroup, { tenant: G, group_id: 'static-1', name: 'x', device_ids: [] }),
    ).rejects.toMatchObject({ status: 409, code: 'group_exists' });
    await expect(
      h.rpc(Ops.createGroup, {
        tenant: G,
        name: 'x',
        device_ids: [],
        filter: { device_type: 'gw' },
      }),
    ).rejects.toMatchObject({ status: 400 });
    // Other tenants' devices are unknown too.
    await expect(
      h.rpc(Ops.createGroup, { tenant: OTHER, name: 'x', device_ids: ['g-a'] }),
    ).rejects.toMatchObject({ status: 400 });
  });

  it.each([
    [{ tags_all: ['lab', 'eu'] }, ['g-a', 'g-c']],
    [{ attributes: { floor: 1 } }, ['g-a']],
    [{ device_type: 'sensor', hardware_model: 'm1' }, ['g-a', 'g-b']],
    [{ connectivity: 'unknown', tags_all: ['eu'] }, ['g-a', 'g-c']],
    [{ firmware_version: '9.9.9' }, []],
  ])('dynamic filter %j is evaluated in SQL like matchesFilter', async (filter, expected) => {
    const g = await h.rpc<Group>(Ops.createGroup, { tenant: G, name: 'dyn', filter });
    expect(g.kind).toBe('dynamic');
    expect(g.group_id).toMatch(/^g-[0-9a-z]{26}$/);
    const got = await h.rpc<DeviceList>(Ops.listGroupDevices, { tenant: G, group_id: g.group_id });
    expect(got.items.map((d) => d.device_id)).toEqual(expected);
    // The reference semantics agree with the SQL on every device of the tenant.
    const all = await h.rpc<DeviceList>(Ops.listDevices, { tenant: G });
    const reference = all.items
      .filter((d) =>
        matchesFilter(
          {
            deviceType: d.device_type,
            hardwareModel: d.hardware_model,
            firmwareVersion: d.firmware_version,
            connectivity: d.connectivity,
            tags: d.tags,
            attributes: d.attributes,
            status: d.status,
          },
          g.filter!,
        ),
      )
      .map((d) => d.device_id);
    expect(reference).toEqual(expected);
  });

  it('a dynamic group follows device changes at query time', async () => {
    const g = await h.rpc<Group>(Ops.createGroup, {
      tenant: G,
      group_id: 'dyn-live',
      name: 'live',
      filter: { tags_all: ['hot'] },
    });
    expect(
      (await h.rpc<DeviceList>(Ops.listGroupDevices, { tenant: G, group_id: g.group_id })).items,
    ).toEqual([]);
    await h.rpc(Ops.updateDevice, { tenant: G, device_id: 'g-b', tags: ['lab', 'hot'] });
    const after = await h.rpc<DeviceList>(Ops.listDevices, { tenant: G, group: 'dyn-live' });
    expect(after.items.map((d) => d.device_id)).toEqual(['g-b']);
  });

  it('lists groups with pagination and 404s unknown groups', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: GroupList = await h.rpc<GroupList>(Ops.listGroups, {
        tenant: G,
        limit: 2,
        ...(cursor ? { cursor } : {}),
      });
      seen.push(...page.items.map((g) => g.group_id));
      cursor = page.next_cursor;
    } while (cursor);
    expect(seen).toContain('static-1');
    expect(seen).toContain('dyn-live');
    expect([...seen].sort()).toEqual(seen);
    await expect(h.rpc(Ops.getGroup, { tenant: G, group_id: 'nope' })).rejects.toMatchObject({
      status: 404,
      code: 'group_not_found',
    });
    await expect(
      h.rpc(Ops.getGroup, { tenant: OTHER, group_id: 'static-1' }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(
      h.rpc(Ops.listGroupDevices, { tenant: G, group_id: 'nope' }),
    ).rejects.toMatchObject({ status: 404 });
    await expect(h.rpc(Ops.listDevices, { tenant: G, group: 'nope' })).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('events', () => {
  it('every event emitted on EVENTS validates against its schema', () => {
    expect(h.events.length).toBeGreaterThan(0);
    expect(h.events.filter((e) => !e.parsed.ok)).toEqual([]);
  });
});
