// Every device, state and group route over HTTP (inject) against the real registry.
import { rpcRequest } from '@drover/bus';
import { waitFor } from '@drover/testing';
import { type Stack, startStack } from '../support/stack';

let stack: Stack;
let rw: { authorization: string };
let ro: { authorization: string };

beforeAll(async () => {
  // A long cache TTL: a fresh read after a change can only come from invalidation.
  stack = await startStack('gw_routes', { DEVICE_CACHE_TTL_MS: '60000' });
  rw = await stack.bearer('devices:read devices:write');
  ro = await stack.bearer('devices:read');
});
afterAll(async () => {
  await stack.stop();
});

async function createDevice(body: Record<string, unknown>, headers = rw) {
  return stack.app.inject({ method: 'POST', url: '/api/v1/devices', headers, payload: body });
}

describe('devices', () => {
  it('registers a device (201, Location) and reads it back', async () => {
    const created = await createDevice({
      device_id: 'dev-1',
      device_type: 'sensor',
      hardware_id: 'hw-1',
      hardware_model: 'm1',
      tags: ['floor:1', 'lab'],
      attributes: { room: 'a', level: 3 },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/api/v1/devices/dev-1');
    expect(created.json()).toMatchObject({
      device_id: 'dev-1',
      tenant: 'acme',
      device_type: 'sensor',
      status: 'active',
      tags: expect.arrayContaining(['floor:1', 'lab']),
      attributes: { room: 'a', level: 3 },
    });

    const got = await stack.app.inject({ url: '/api/v1/devices/dev-1', headers: ro });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({ device_id: 'dev-1', hardware_model: 'm1' });
  });

  it('generates an id when none is given', async () => {
    const res = await createDevice({ device_type: 'sensor', hardware_id: 'hw-gen' });
    expect(res.statusCode).toBe(201);
    expect(res.json().device_id).toMatch(/^d-[0-9a-z]{26}$/);
  });

  it('answers 409 device_exists for a taken id', async () => {
    await createDevice({ device_id: 'dup-1', device_type: 'sensor', hardware_id: 'hw-dup-1' });
    const res = await createDevice({
      device_id: 'dup-1',
      device_type: 'sensor',
      hardware_id: 'hw-dup-2',
    });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toMatchObject({ error_code: 'device_exists' });
  });

  it('lists with filters and pagination', async () => {
    for (const i of [1, 2, 3]) {
      await createDevice({
        device_id: `list-${i}`,
        device_type: 'meter',
        hardware_id: `hw-list-${i}`,
        tags: ['paged'],
      });
    }
    const first = await stack.app.inject({
      url: '/api/v1/devices?device_type=meter&tag=paged&limit=2',
      headers: ro,
    });
    expect(first.statusCode).toBe(200);
    const page1 = first.json();
    expect(page1.items).toHaveLength(2);
    expect(page1.next_cursor).toEqual(expect.any(String));
    const second = await stack.app.inject({
      url: `/api/v1/devices?device_type=meter&tag=paged&limit=2&cursor=${encodeURIComponent(page1.next_cursor)}`,
      headers: ro,
    });
    const page2 = second.json();
    expect(page2.items).toHaveLength(1);
    expect(page2.next_cursor).toBeNull();
    const ids = [...page1.items, ...page2.items].map((d: { device_id: string }) => d.device_id);
    expect(ids.sort()).toEqual(['list-1', 'list-2', 'list-3']);
  });

  it('patches tags and merges attributes (null deletes)', async () => {
    await createDevice({
      device_id: 'patch-1',
      device_type: 'sensor',
      hardware_id: 'hw-patch-1',
      attributes: { a: 1, b: 'x' },
    });
    const res = await stack.app.inject({
      method: 'PATCH',
      url: '/api/v1/devices/patch-1',
      headers: rw,
      payload: { tags: ['new'], attributes: { a: null, c: true } },
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ tags: ['new'], attributes: { b: 'x', c: true } });
    expect(res.json().attributes).not.toHaveProperty('a');
  });

  it('decommissions with DELETE', async () => {
    await createDevice({ device_id: 'gone-1', device_type: 'sensor', hardware_id: 'hw-gone-1' });
    const res = await stack.app.inject({
      method: 'DELETE',
      url: '/api/v1/devices/gone-1?reason=broken',
      headers: rw,
    });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ device_id: 'gone-1', status: 'decommissioned' });
  });

  it('answers 404 device_not_found for an unknown device', async () => {
    const res = await stack.app.inject({ url: '/api/v1/devices/nope', headers: ro });
    expect(res.statusCode).toBe(404);
    expect(res.json()).toEqual({
      error_code: 'device_not_found',
      detail: expect.any(String),
      correlation_id: res.headers['x-correlation-id'],
    });
  });
});

describe('GET device cache', () => {
  it('a change through this gateway is visible at once', async () => {
    await createDevice({ device_id: 'cache-1', device_type: 'sensor', hardware_id: 'hw-c-1' });
    const before = await stack.app.inject({ url: '/api/v1/devices/cache-1', headers: ro });
    expect(before.json().tags).toEqual([]);
    await stack.app.inject({
      method: 'PATCH',
      url: '/api/v1/devices/cache-1',
      headers: rw,
      payload: { tags: ['fresh'] },
    });
    const after = await stack.app.inject({ url: '/api/v1/devices/cache-1', headers: ro });
    expect(after.json().tags).toEqual(['fresh']);
  });

  it('a change made elsewhere (another replica) is visible once its event arrives', async () => {
    await createDevice({ device_id: 'cache-2', device_type: 'sensor', hardware_id: 'hw-c-2' });
    const read = async () =>
      (await stack.app.inject({ url: '/api/v1/devices/cache-2', headers: ro })).json();
    expect((await read()).tags).toEqual([]);
    // Straight to the registry, as another gateway would: only the event tells this one.
    await rpcRequest(stack.bus, 'device-registry', 'update_device', {
      tenant: 'acme',
      device_id: 'cache-2',
      tags: ['elsewhere'],
    });
    await waitFor(async () => (await read()).tags[0] === 'elsewhere', { timeoutMs: 5000 });
  });
});

describe('state', () => {
  beforeAll(async () => {
    await createDevice({ device_id: 'st-1', device_type: 'sensor', hardware_id: 'hw-st-1' });
  });

  it('puts desired state (versioned) and reads desired, reported and delta', async () => {
    const put = await stack.app.inject({
      method: 'PUT',
      url: '/api/v1/devices/st-1/state',
      headers: rw,
      payload: { state: { led: 'on', interval: 5 } },
    });
    expect(put.statusCode).toBe(200);
    const version = put.json().desired.version;
    expect(version).toBeGreaterThan(0);

    const got = await stack.app.inject({ url: '/api/v1/devices/st-1/state', headers: ro });
    expect(got.statusCode).toBe(200);
    expect(got.json()).toMatchObject({
      desired: { state: { led: 'on', interval: 5 }, version },
      reported: { version: expect.any(Number) },
      delta: { led: 'on', interval: 5 },
    });
  });

  it('answers 409 version_conflict for a stale expected_version', async () => {
    const res = await stack.app.inject({
      method: 'PUT',
      url: '/api/v1/devices/st-1/state',
      headers: rw,
      payload: { state: { led: 'off' }, expected_version: 999 },
    });
    expect(res.statusCode).toBe(409);
    expect(res.json().error_code).toBe('version_conflict');
  });
});

describe('groups', () => {
  beforeAll(async () => {
    await createDevice({
      device_id: 'grp-dev-1',
      device_type: 'gauge',
      hardware_id: 'hw-grp-1',
      tags: ['g'],
    });
    await createDevice({ device_id: 'grp-dev-2', device_type: 'gauge', hardware_id: 'hw-grp-2' });
  });

  it('creates a static group and lists its devices', async () => {
    const created = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers: rw,
      payload: { group_id: 'static-1', name: 'Static', device_ids: ['grp-dev-1', 'grp-dev-2'] },
    });
    expect(created.statusCode).toBe(201);
    expect(created.headers.location).toBe('/api/v1/groups/static-1');
    expect(created.json()).toMatchObject({ group_id: 'static-1', kind: 'static' });

    const got = await stack.app.inject({ url: '/api/v1/groups/static-1', headers: ro });
    expect(got.statusCode).toBe(200);
    expect(got.json().name).toBe('Static');

    const devices = await stack.app.inject({
      url: '/api/v1/groups/static-1/devices',
      headers: ro,
    });
    expect(devices.statusCode).toBe(200);
    const ids = devices.json().items.map((d: { device_id: string }) => d.device_id);
    expect(ids.sort()).toEqual(['grp-dev-1', 'grp-dev-2']);
  });

  it('creates a dynamic group evaluated at query time, and lists groups', async () => {
    const created = await stack.app.inject({
      method: 'POST',
      url: '/api/v1/groups',
      headers: rw,
      payload: {
        group_id: 'dyn-1',
        name: 'Dynamic',
        filter: { device_type: 'gauge', tags_all: ['g'] },
      },
    });
    expect(created.statusCode).toBe(201);
    expect(created.json().kind).toBe('dynamic');
    const devices = await stack.app.inject({ url: '/api/v1/groups/dyn-1/devices', headers: ro });
    expect(devices.json().items.map((d: { device_id: string }) => d.device_id)).toEqual([
      'grp-dev-1',
    ]);

    const list = await stack.app.inject({ url: '/api/v1/groups?limit=500', headers: ro });
    expect(list.statusCode).toBe(200);
    const groupIds = list.json().items.map((g: { group_id: string }) => g.group_id);
    expect(groupIds).toEqual(expect.arrayContaining(['static-1', 'dyn-1']));
  });

  it('answers 404 group_not_found', async () => {
    const res = await stack.app.inject({ url: '/api/v1/groups/none', headers: ro });
    expect(res.statusCode).toBe(404);
    expect(res.json().error_code).toBe('group_not_found');
  });
});

describe('tenancy', () => {
  it("another tenant's device, state and group are 404", async () => {
    const other = await stack.bearer('admin', 'globex');
    await createDevice({ device_id: 'mine-1', device_type: 'sensor', hardware_id: 'hw-mine-1' });
    for (const url of [
      '/api/v1/devices/mine-1',
      '/api/v1/devices/mine-1/state',
      '/api/v1/groups/static-1',
    ]) {
      const res = await stack.app.inject({ url, headers: other });
      expect({ url, status: res.statusCode }).toEqual({ url, status: 404 });
    }
    const patch = await stack.app.inject({
      method: 'PATCH',
      url: '/api/v1/devices/mine-1',
      headers: other,
      payload: { tags: ['stolen'] },
    });
    expect(patch.statusCode).toBe(404);
    const list = await stack.app.inject({ url: '/api/v1/devices', headers: other });
    expect(list.json().items).toEqual([]);
  });
});
