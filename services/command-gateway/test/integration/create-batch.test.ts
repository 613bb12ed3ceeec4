// Single creates batched on the real path: many concurrent unkeyed create_command calls share
// insert statements, every one gets its own command that reaches the device once and succeeds;
// a parked create (device offline) and a keyed create keep their semantics beside a batch; a
// cached device that the registry decommissions is refused at once (its event drops the entry),
// while an update of other fields keeps it; a device is looked up when it comes online.
import { rpcRequest } from '@drover/bus';
import { eventFilter } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import { type Device, type Harness, startHarness } from './command.harness';

jest.setTimeout(180_000);

describe('batched single creates', () => {
  let h: Harness;
  const devices: Device[] = [];

  beforeAll(async () => {
    // Resends far apart: a slow answer on a loaded machine must not count as a second delivery.
    h = await startHarness('cbatch', { RESEND_BASE_MS: 60_000, RESEND_MAX_MS: 60_000 });
    const ids = ['c0', 'c1', 'c2', 'c3', 'c4'];
    await h.register([...ids, 'c-off']);
    for (const id of ids) devices.push(await h.connect(id));
  });
  afterAll(async () => {
    await h?.stop();
  });

  it('200 concurrent creates share statements and each succeeds once on its device', async () => {
    // Presence must be stored before the creates, or they are parked instead of sent.
    for (const d of devices) {
      await h.until(
        (await h.create({ device_id: d.id, name: 'warm' })).command.command_id,
        (c) => c.status === 'succeeded',
      );
    }
    const before = { ...h.gateway.creates.stats };
    const created = await Promise.all(
      Array.from({ length: 200 }, (_, i) =>
        h.create({ device_id: devices[i % devices.length]!.id, name: 'go', params: { i } }),
      ),
    );
    const stats = h.gateway.creates.stats;
    expect(created.every((c) => c.created)).toBe(true);
    const ids = created.map((c) => c.command.command_id);
    expect(new Set(ids).size).toBe(200);
    expect(stats.rows - before.rows).toBe(200);
    // Batched: far fewer statements than creates.
    expect(stats.statements - before.statements).toBeLessThan(100);
    // One query for all 200 (not 200 pollers); five devices answer 40 commands each in order:
    // generous on a loaded machine.
    await waitFor(
      async () => {
        const rows = await h.gateway.ctx.db
          .selectFrom('commands')
          .select('status')
          .where('command_id', 'in', ids)
          .where('status', '=', 'succeeded')
          .execute();
        return rows.length === ids.length ? true : null;
      },
      { timeoutMs: 90_000, intervalMs: 100, description: '200 commands succeeded' },
    );
    const done = await Promise.all(ids.map((id) => h.get(id)));
    // Each command's own params came back from its own device, once.
    done.forEach((c, i) => expect(c.result).toEqual({ echo: { i } }));
    for (const id of ids) {
      const seen = devices.flatMap((d) => d.received.filter((r) => r.msgId === id));
      expect(seen).toHaveLength(1);
    }
  });

  it('looks up a burst of devices it has not seen in a few registry calls, not one each', async () => {
    const cold = Array.from({ length: 40 }, (_, i) => `cold-${i}`);
    await h.register(cold);
    const before = { ...h.gateway.metaLoader.stats };
    const [created, unknown] = await Promise.all([
      Promise.all(cold.map((device_id) => h.create({ device_id, name: 'cold' }))),
      h.create({ device_id: 'cold-nobody', name: 'cold' }).catch((err: unknown) => err),
    ]);
    // Offline devices: parked, but each created once with its device type from the registry.
    expect(created.map((c) => [c.created, c.command.status])).toEqual(
      cold.map(() => [true, 'queued']),
    );
    expect(unknown).toMatchObject({ status: 404, code: 'device_not_found' });
    const batches = h.gateway.metaLoader.stats.batches - before.batches;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThan(20);
    expect(h.gateway.metaLoader.stats.single).toBe(before.single);
  });

  it('parks a batched create for an offline device and keeps keyed creates idempotent', async () => {
    const [parked, keyed, again] = await Promise.all([
      h.create({ device_id: 'c-off', name: 'go' }),
      h.create({ device_id: 'c0', name: 'go', idempotency_key: 'k-1' }),
      h.create({ device_id: 'c0', name: 'go', idempotency_key: 'k-1' }),
    ]);
    expect(parked.command.status).toBe('queued');
    expect(parked.command.attempts).toBe(0);
    expect(keyed.command.command_id).toBe(again.command.command_id);
    expect([keyed.created, again.created].filter(Boolean)).toHaveLength(1);
    await h.until(keyed.command.command_id, (c) => c.status === 'succeeded');
    const off = await h.connect('c-off');
    await h.until(parked.command.command_id, (c) => c.status === 'succeeded');
    expect(off.received.map((r) => r.msgId)).toEqual([parked.command.command_id]);
  });
});

describe('device meta cache', () => {
  let h: Harness;
  afterAll(async () => {
    await h?.stop();
  });

  it('refuses a cached device at once when the registry decommissions it', async () => {
    // An hour of cache: only the registry's event can make the gateway notice.
    h = await startHarness('cmeta', { DEVICE_META_TTL_MS: 3_600_000 });
    await h.register(['m0']);
    const first = await h.create({ device_id: 'm0', name: 'go' });
    expect(first.created).toBe(true);
    await rpcRequest(h.bus, 'device-registry', 'decommission_device', {
      tenant: h.tenant,
      device_id: 'm0',
    });
    const refused = await waitFor(
      async () => {
        try {
          await h.create({ device_id: 'm0', name: 'go' });
          return null;
        } catch (err) {
          return err as Error;
        }
      },
      { timeoutMs: 10_000, intervalMs: 50, description: 'create refused after decommission' },
    );
    expect(String(refused)).toMatch(/decommissioned/);
  });

  // Runs `act` and resolves once this test has seen the device's `device.<event>`. The gateway
  // reads events and RPC requests on one connection, in the server's order: an event seen here
  // has reached the gateway before anything this test sends after it.
  async function seen(event: string, deviceId: string, act: () => Promise<unknown>) {
    const sub = h.bus.nc.subscribe(eventFilter(h.bus.naming, { aggregate: 'device', event }));
    const arrived = (async () => {
      for await (const m of sub) {
        const e = JSON.parse(Buffer.from(m.data).toString()) as { data: { device_id: string } };
        if (e.data.device_id === deviceId) return;
      }
    })();
    await act();
    await arrived;
    sub.unsubscribe();
  }

  it('keeps a cached device through a device.updated that changes no type or status', async () => {
    await seen('registered', 'm1', () => h.register(['m1']));
    await h.create({ device_id: 'm1', name: 'go' });
    const before = { ...h.gateway.metaLoader.stats };
    await seen('updated', 'm1', () =>
      rpcRequest(h.bus, 'device-registry', 'update_device', {
        tenant: h.tenant,
        device_id: 'm1',
        tags: ['floor-2'],
      }),
    );
    await h.create({ device_id: 'm1', name: 'go' });
    expect(h.gateway.metaLoader.stats.batches).toBe(before.batches);
    expect(h.gateway.metaLoader.stats.single).toBe(before.single);
  });

  it('looks a device up when it comes online, before its first command', async () => {
    await seen('registered', 'm2', () => h.register(['m2']));
    const before = { ...h.gateway.metaLoader.stats };
    await h.connect('m2');
    await waitFor(
      () =>
        h.gateway.metaLoader.stats.prefetched > before.prefetched &&
        h.gateway.metaLoader.stats.batches > before.batches,
      { timeoutMs: 15_000, intervalMs: 20, description: 'meta prefetched on presence' },
    );
    const looked = h.gateway.metaLoader.stats.batches;
    const created = await h.create({ device_id: 'm2', name: 'go' });
    expect(created.created).toBe(true);
    expect(h.gateway.metaLoader.stats.batches).toBe(looked);
    expect(h.gateway.metaLoader.stats.prefetchFailed).toBe(before.prefetchFailed);
  });

  it('looks up the devices online already when it starts', async () => {
    await h.restartGateway();
    // m2 is online (previous test): read from the gateway's presence and looked up in one call.
    await waitFor(() => h.gateway.metaLoader.stats.batches === 1, {
      timeoutMs: 15_000,
      intervalMs: 20,
      description: 'online devices prefetched at start',
    });
    expect(h.gateway.metaLoader.stats.prefetched).toBe(1);
    await h.create({ device_id: 'm2', name: 'go' });
    expect(h.gateway.metaLoader.stats.batches).toBe(1);
  });
});
