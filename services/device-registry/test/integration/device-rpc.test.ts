// Device and state RPC ops against the real registry (Postgres, NATS, Redis): tenant scoping,
// pagination, filters, desired/reported state, decommission, and the events they emit.
import { rpcRequest } from '@drover/bus';
import {
  DEVICE_REGISTRY_SERVICE,
  type Device,
  type DeviceList,
  DeviceRegistryOps as Ops,
  type DeviceState,
  payloadCheckers,
} from '@drover/contracts';
import { sql } from 'kysely';
import { type Harness, startHarness } from './registry.harness';

let h: Harness;
const T = 'acme';
const OTHER = 'globex';

beforeAll(async () => {
  h = await startHarness('reg_rpc');
});
afterAll(async () => {
  await h.close();
});

const create = (body: Record<string, unknown>) =>
  h.rpc<Device>(Ops.createDevice, { tenant: T, device_type: 'sensor', ...body });

describe('devices', () => {
  it('creates a device with a generated id and emits device.registered without the hardware id', async () => {
    const d = await create({
      hardware_id: 'HW-SECRET-0001',
      tags: ['b', 'a'],
      attributes: { floor: 2 },
    });
    expect(d).toMatchObject({
      tenant: T,
      device_type: 'sensor',
      hardware_id: 'HW-SECRET-0001',
      hardware_model: null,
      status: 'active',
      connectivity: 'unknown',
      last_seen: null,
      firmware_version: null,
      tags: ['a', 'b'],
      attributes: { floor: 2 },
      certificate: null,
    });
    expect(d.device_id).toMatch(/^d-[0-9a-z]{26}$/);
    const ev = await h.waitEvent('drover.device.registered.v1', d.device_id);
    expect(JSON.stringify(ev.body)).not.toContain('HW-SECRET-0001');
    expect((ev.body as { data: { hardware_id_hash: string } }).data.hardware_id_hash).toMatch(
      /^[0-9a-f]{64}$/,
    );
    expect(ev.subject).toBe(`${h.ns}.iot.evt.${T}.device.registered`);
    // The device type was auto-created on first use.
    const types = await h.db
      .selectFrom('device_types')
      .selectAll()
      .where('tenant', '=', T)
      .execute();
    expect(types.map((t) => t.device_type)).toContain('sensor');
  });

  it('refuses a taken id (device_exists) and a taken hardware id (hardware_id_taken)', async () => {
    await create({ device_id: 'dup-1', hardware_id: 'HW-DUP-1' });
    await expect(create({ device_id: 'dup-1', hardware_id: 'HW-DUP-2' })).rejects.toMatchObject({
      status: 409,
      code: 'device_exists',
    });
    await expect(create({ device_id: 'dup-2', hardware_id: 'HW-DUP-1' })).rejects.toMatchObject({
      status: 409,
      code: 'hardware_id_taken',
    });
    // The same hardware id in another tenant is fine.
    await expect(
      h.rpc(Ops.createDevice, { tenant: OTHER, device_type: 'sensor', hardware_id: 'HW-DUP-1' }),
    ).resolves.toMatchObject({ tenant: OTHER });
  });

  it('validates requests (schema and domain) with 400', async () => {
    await expect(create({ hardware_id: 'a/b' })).rejects.toMatchObject({ status: 400 });
    await expect(create({ hardware_id: 'HW-X', tags: ['bad tag'] })).rejects.toMatchObject({
      status: 400,
    });
    await expect(h.rpc(Ops.listDevices, { tenant: T, limit: 501 })).rejects.toMatchObject({
      status: 400,
    });
    await expect(h.rpc(Ops.listDevices, { tenant: T, cursor: 'nope' })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('scopes every read and write to the tenant (404 for another tenant)', async () => {
    const d = await create({ device_id: 'scoped-1', hardware_id: 'HW-SCOPED-1' });
    for (const [op, extra] of [
      [Ops.getDevice, {}],
      [Ops.getDeviceMeta, {}],
      [Ops.getState, {}],
      [Ops.updateDevice, { tags: ['x'] }],
      [Ops.decommissionDevice, {}],
      [Ops.putDesiredState, { state: { a: 1 } }],
    ] as const) {
      await expect(
        h.rpc(op, { tenant: OTHER, device_id: d.device_id, ...extra }),
      ).rejects.toMatchObject({
        status: 404,
        code: 'device_not_found',
      });
    }
    const other = await h.rpc<DeviceList>(Ops.listDevices, { tenant: OTHER, q: 'scoped' });
    expect(other.items).toEqual([]);
    await expect(h.rpc(Ops.getDevice, { tenant: T, device_id: 'scoped-1' })).resolves.toMatchObject(
      {
        device_id: 'scoped-1',
      },
    );
  });

  it('carries the caller correlation id into events, and survives one too long for them', async () => {
    await rpcRequest(
      h.bus,
      DEVICE_REGISTRY_SERVICE,
      Ops.createDevice,
      {
        tenant: T,
        device_type: 'sensor',
        device_id: 'corr-1',
        hardware_id: 'HW-CORR-1',
      },
      { correlationId: 'corr-abc' },
    );
    const ev = await h.waitEvent('drover.device.registered.v1', 'corr-1');
    expect((ev.body as { correlationid?: string }).correlationid).toBe('corr-abc');
    await expect(
      rpcRequest(
        h.bus,
        DEVICE_REGISTRY_SERVICE,
        Ops.createDevice,
        {
          tenant: T,
          device_type: 'sensor',
          device_id: 'corr-2',
          hardware_id: 'HW-CORR-2',
        },
        { correlationId: 'x'.repeat(200) },
      ),
    ).resolves.toMatchObject({ device_id: 'corr-2' });
    const ev2 = await h.waitEvent('drover.device.registered.v1', 'corr-2');
    expect((ev2.body as { correlationid?: string }).correlationid).toBeUndefined();
  });

  it('get_device_meta returns the hot-path fields', async () => {
    await create({ device_id: 'meta-1', hardware_id: 'HW-META-1' });
    await expect(h.rpc(Ops.getDeviceMeta, { tenant: T, device_id: 'meta-1' })).resolves.toEqual({
      device_id: 'meta-1',
      tenant: T,
      device_type: 'sensor',
      status: 'active',
    });
  });

  it('get_devices_meta answers many devices at once: cached or not, only the tenant’s', async () => {
    await create({ device_id: 'metam-1', hardware_id: 'HW-METAM-1' });
    await create({ device_id: 'metam-2', hardware_id: 'HW-METAM-2' });
    // One of them cached by a single lookup first.
    await h.rpc(Ops.getDeviceMeta, { tenant: T, device_id: 'metam-1' });
    const res = await h.rpc<{ items: unknown[] }>(Ops.getDevicesMeta, {
      tenant: T,
      device_ids: ['metam-2', 'nobody', 'metam-1', 'metam-2'],
    });
    expect(res.items).toEqual([
      { device_id: 'metam-2', tenant: T, device_type: 'sensor', status: 'active' },
      { device_id: 'metam-1', tenant: T, device_type: 'sensor', status: 'active' },
    ]);
    const other = await h.rpc<{ items: unknown[] }>(Ops.getDevicesMeta, {
      tenant: OTHER,
      device_ids: ['metam-1', 'metam-2'],
    });
    expect(other.items).toEqual([]);
    await expect(h.rpc(Ops.getDevicesMeta, { tenant: T, device_ids: [] })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('updates tags (replace) and attributes (merge patch) and emits device.updated', async () => {
    await create({
      device_id: 'upd-1',
      hardware_id: 'HW-UPD-1',
      tags: ['old'],
      attributes: { a: 1, b: 2 },
    });
    const d = await h.rpc<Device>(Ops.updateDevice, {
      tenant: T,
      device_id: 'upd-1',
      tags: ['new', 'x'],
      attributes: { a: null, c: 'three' },
    });
    expect(d.tags).toEqual(['new', 'x']);
    expect(d.attributes).toEqual({ b: 2, c: 'three' });
    const ev = await h.waitEvent('drover.device.updated.v1', 'upd-1');
    expect((ev.body as { data: unknown }).data).toMatchObject({
      device_id: 'upd-1',
      changes: { tags: ['new', 'x'], attributes: { a: null, c: 'three' } },
    });
    await expect(h.rpc(Ops.updateDevice, { tenant: T, device_id: 'upd-1' })).rejects.toMatchObject({
      status: 400,
    });
  });

  it('decommissions idempotently; a decommissioned device refuses updates and desired state', async () => {
    await create({ device_id: 'dec-1', hardware_id: 'HW-DEC-1' });
    const first = await h.rpc<Device>(Ops.decommissionDevice, {
      tenant: T,
      device_id: 'dec-1',
      reason: 'eol',
    });
    expect(first.status).toBe('decommissioned');
    const again = await h.rpc<Device>(Ops.decommissionDevice, { tenant: T, device_id: 'dec-1' });
    expect(again).toEqual(first);
    const ev = await h.waitEvent('drover.device.decommissioned.v1', 'dec-1');
    expect((ev.body as { data: unknown }).data).toMatchObject({
      device_id: 'dec-1',
      reason: 'eol',
    });
    await expect(
      h.rpc(Ops.updateDevice, { tenant: T, device_id: 'dec-1', tags: ['x'] }),
    ).rejects.toMatchObject({ status: 409, code: 'device_decommissioned' });
    await expect(
      h.rpc(Ops.putDesiredState, { tenant: T, device_id: 'dec-1', state: { a: 1 } }),
    ).rejects.toMatchObject({ status: 409, code: 'device_decommissioned' });
    await expect(
      h.rpc(Ops.getDeviceMeta, { tenant: T, device_id: 'dec-1' }),
    ).resolves.toMatchObject({
      status: 'decommissioned',
    });
    // Exactly one event for the two calls: the outbox publishes in commit order, so once a
    // later device's event is here, a second decommissioned event would be too.
    await create({ device_id: 'dec-marker', hardware_id: 'HW-DEC-MARKER' });
    await h.waitEvent('drover.device.registered.v1', 'dec-marker');
    const count = h.events.filter(
      (e) =>
        (e.body as { type: string }).type === 'drover.device.decommissioned.v1' &&
        (e.body as { subject: string }).subject === 'dec-1',
    ).length;
    expect(count).toBe(1);
  });
});

describe('listing', () => {
  const P = 'pager';
  beforeAll(async () => {
    for (let i = 0; i < 7; i += 1) {
      await h.rpc(Ops.createDevice, {
        tenant: P,
        device_id: `p-${String(i).padStart(2, '0')}`,
        device_type: i % 2 === 0 ? 'even' : 'odd',
        hardware_id: `HW-P-${i}`,
        tags: i < 3 ? ['first'] : ['rest'],
        attributes: { idx: i, site: i === 5 ? 'Berlin_50%' : 'paris' },
      });
    }
    await h.db
      .updateTable('devices')
      .set({ connectivity: 'online', firmware_version: '2.0.0' })
      .where('tenant', '=', P)
      .where('device_id', 'in', ['p-01', 'p-04'])
      .execute();
    await h.db
      .updateTable('devices')
      .set({ connectivity: 'offline' })
      .where('tenant', '=', P)
      .where('device_id', '=', 'p-02')
      .execute();
  });

  const list = (body: Record<string, unknown> = {}) =>
    h.rpc<DeviceList>(Ops.listDevices, { tenant: P, ...body });
  const ids = (l: DeviceList) => l.items.map((d) => d.device_id);

  it('paginates with an opaque keyset cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null | undefined;
    let pages = 0;
    do {
      const page = await list({ limit: 3, ...(cursor ? { cursor } : {}) });
      seen.push(...ids(page));
      cursor = page.next_cursor;
      pages += 1;
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual(['p-00', 'p-01', 'p-02', 'p-03', 'p-04', 'p-05', 'p-06']);
    expect((await list({ limit: 7 })).next_cursor).toBeNull();
    expect((await list()).items).toHaveLength(7);
  });

  it.each([
    ['device_type', { device_type: 'odd' }, ['p-01', 'p-03', 'p-05']],
    ['tag', { tag: 'first' }, ['p-00', 'p-01', 'p-02']],
    ['connectivity online', { connectivity: 'online' }, ['p-01', 'p-04']],
    ['connectivity offline', { connectivity: 'offline' }, ['p-02']],
    ['firmware_version', { firmware_version: '2.0.0' }, ['p-01', 'p-04']],
    ['q on device id', { q: 'p-0' }, ['p-00', 'p-01', 'p-02', 'p-03', 'p-04', 'p-05', 'p-06']],
    ['q on attributes, LIKE-escaped', { q: 'n_50%' }, ['p-05']],
    ['q matches nothing', { q: '_x%' }, []],
    ['combined', { device_type: 'even', tag: 'rest' }, ['p-04', 'p-06']],
  ])('filters by %s', async (_name, filter, expected) => {
    expect(ids(await list(filter))).toEqual(expected);
  });
});

describe('desired and reported state', () => {
  it('versions desired state, checks expected_version, pushes it on COMMANDS and emits state_changed', async () => {
    await create({ device_id: 'st-1', hardware_id: 'HW-ST-1' });
    const empty = await h.rpc<DeviceState>(Ops.getState, { tenant: T, device_id: 'st-1' });
    expect(empty).toEqual({
      desired: { state: {}, version: 0, updated_at: null },
      reported: { state: {}, version: 0, updated_at: null },
      delta: {},
    });
    const s1 = await h.rpc<DeviceState>(Ops.putDesiredState, {
      tenant: T,
      device_id: 'st-1',
      state: { led: 'on', cfg: { rate: 5, mode: 'a' } },
      expected_version: 0,
    });
    expect(s1.desired).toMatchObject({
      version: 1,
      state: { led: 'on', cfg: { rate: 5, mode: 'a' } },
    });
    expect(s1.delta).toEqual({ led: 'on', cfg: { rate: 5, mode: 'a' } });
    await expect(
      h.rpc(Ops.putDesiredState, {
        tenant: T,
        device_id: 'st-1',
        state: { led: 'off' },
        expected_version: 0,
      }),
    ).rejects.toMatchObject({ status: 409, code: 'version_conflict' });

    // Reported state arrives from the device (via the DB here; the consumer test covers the bus).
    await h.db
      .updateTable('device_state')
      .set({
        reported: JSON.stringify({ led: 'on', cfg: { rate: 1, mode: 'a' }, extra: 1 }),
        reported_version: 1,
      })
      .where('tenant', '=', T)
      .where('device_id', '=', 'st-1')
      .execute();
    const s2 = await h.rpc<DeviceState>(Ops.getState, { tenant: T, device_id: 'st-1' });
    expect(s2.delta).toEqual({ cfg: { rate: 5 } });

    const push = await (async () => {
      const { waitFor } = await import('@drover/testing');
      return waitFor(() => h.desired.find((m) => (m.body as { version: number }).version === 1), {
        description: 'desired push',
      });
    })();
    expect(push.subject).toBe(`${h.ns}.iot.desired.${T}.st-1`);
    expect(push.body).toEqual({
      msg_id: expect.any(String),
      ts: expect.any(String),
      schema_version: 1,
      version: 1,
      state: { led: 'on', cfg: { rate: 5, mode: 'a' } },
    });
    expect(payloadCheckers.DesiredStatePayload.check(push.body)).toBe(true);
    const ev = await h.waitEvent('drover.device.state_changed.v1', 'st-1');
    expect((ev.body as { data: unknown }).data).toMatchObject({ kind: 'desired', version: 1 });
  });

  it('rejects a non-object desired state', async () => {
    await expect(
      h.rpc(Ops.putDesiredState, { tenant: T, device_id: 'st-1', state: [1, 2] }),
    ).rejects.toMatchObject({ status: 400 });
  });
});

describe('events', () => {
  it('every event emitted on EVENTS validates against its schema', async () => {
    expect(h.events.length).toBeGreaterThan(5);
    const bad = h.events.filter((e) => !e.parsed.ok);
    expect(bad).toEqual([]);
    const types = new Set(h.events.map((e) => (e.body as { type: string }).type));
    for (const t of ['registered', 'updated', 'decommissioned', 'state_changed']) {
      expect(types).toContain(`drover.device.${t}.v1`);
    }
    // Nothing in the outbox is left behind.
    const pending = await sql<{
      n: string;
    }>`select count(*)::text as n from outbox where sent_at is null`.execute(h.db);
    expect(pending.rows[0]?.n).toBe('0');
  });
});
