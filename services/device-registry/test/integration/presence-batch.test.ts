// Presence in batches (service/presence-batcher.ts): a burst of many devices' presences, several
// of one device among them and an unknown device, ends as applying them one by one would; and a
// device changed between a batch's read and its write is read and decided again, never
// overwritten with a decision made on the old row.
import { DeviceRegistryOps as Ops, type Device } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { waitFor } from '@drover/testing';
import { type DeviceCache } from '../../src/adapters/redis/device.cache';
import { createPresenceBatcher } from '../../src/service/presence-batcher';
import { type RegistryContext } from '../../src/service/registry.context';
import { type Harness, startHarness } from './registry.harness';

jest.setTimeout(60_000);

let h: Harness;
const T = 'acme';
const DEVICES = 40;
const t0 = Date.parse('2026-11-27T06:00:00.000Z');

beforeAll(async () => {
  h = await startHarness('reg_presbatch', { LAST_SEEN_COALESCE_S: 60 });

  for (let i = 0; i < DEVICES; i += 1) {
    await h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: `b${i}`,
      device_type: 'sensor',
      hardware_id: `HW-B${i}`,
    });
  }
  for (const id of ['cas1', 'cas2']) {
    await h.rpc(Ops.createDevice, {
      tenant: T,
      device_id: id,
      device_type: 'sensor',
      hardware_id: `HW-${id}`,
    });
  }
});
afterAll(async () => {
  await h.close();
});

const presence = (deviceId: string, state: 'online' | 'offline', tsMs: number) =>
  h.presence(T, deviceId, state, tsMs, state === 'online' ? { firmware_version: '2.0.0' } : {});

/** The device's events since its registration. */
const eventsOf = (deviceId: string) =>
  h.events
    .filter((e) => (e.body as { subject: string }).subject === deviceId)
    .map((e) => (e.body as { type: string }).type)
    .filter((type) => type !== 'drover.device.registered.v1');

describe('a burst of presences', () => {
  // State and events as one by one; the unknown device dead-lettered.
  it('ends as applying them one by one would', async () => {
    // All on the stream before the consumer has settled the first: they arrive in batches.
    // Published in this order on one connection, so the stream keeps it per device.
    const published: Promise<void>[] = [];
    for (let i = 0; i < DEVICES; i += 1) {
      const id = `b${i}`;
      published.push(presence(id, 'online', t0));
      published.push(presence(id, 'offline', t0 + 1000));
      published.push(presence(id, 'online', t0 + 2000));
    }
    published.push(presence('ghost-b', 'online', t0));
    await Promise.all(published);

    await waitFor(async () => (await h.outcomes('presence', 'applied')) >= DEVICES * 3, {
      timeoutMs: 30_000,
      description: 'every presence applied',
    });
    const rec = (await waitFor(() =>
      h.dlq.find((m) => (m.body as { subject: string }).subject.endsWith('.presence.ghost-b')),
    )) as { body: { error_code: string } };
    expect(rec.body.error_code).toBe('device_not_found');
    for (let i = 0; i < DEVICES; i += 1) {
      const device = await h.rpc<Device>(Ops.getDevice, { tenant: T, device_id: `b${i}` });
      expect(device).toMatchObject({ connectivity: 'online', firmware_version: '2.0.0' });
      expect(device.last_seen).toBe(new Date(t0 + 2000).toISOString());
    }
    // Published after one another: only their order per device is the publishes' order.
    await waitFor(() => eventsOf(`b${DEVICES - 1}`).length === 4, { timeoutMs: 30_000 });
    for (let i = 0; i < DEVICES; i += 1) {
      expect(eventsOf(`b${i}`)).toEqual([
        'drover.device.connected.v1',
        'drover.device.updated.v1',
        'drover.device.disconnected.v1',
        'drover.device.connected.v1',
      ]);
    }
  });
});

describe('a device changed between a batch’s read and its write', () => {
  const invalidated: string[] = [];
  const cache = {
    invalidate: async (keys: { deviceId: string }[]) => {
      invalidated.push(...keys.map((k) => k.deviceId));
    },
  } as unknown as DeviceCache;
  const batcherWith = (race: () => Promise<void>) => {
    let raced = false;
    const ctx: RegistryContext = {
      db: h.db,
      naming: h.bus.naming,
      cache,
      notifyOutbox: () => undefined,
      logger: createLogger({ service: 'test', level: 'silent' }),
      coalesceMs: 60_000,
      now: () => new Date(),
    };
    return createPresenceBatcher(ctx, {
      max: 16,
      concurrency: 1,
      beforeWrite: async () => {
        if (raced) return;
        raced = true;
        await race();
      },
    });
  };
  const row = (id: string) =>
    h.db
      .selectFrom('devices')
      .selectAll()
      .where('tenant', '=', T)
      .where('device_id', '=', id)
      .executeTakeFirstOrThrow();

  it('a newer presence written meanwhile wins: the batch’s older one is out of order', async () => {
    const batcher = batcherWith(async () => {
      // Another replica applied a newer last will meanwhile.
      await h.db
        .updateTable('devices')
        .set({ connectivity: 'offline', last_presence_ts: new Date(t0 + 10_000) })
        .where('device_id', '=', 'cas1')
        .execute();
    });
    const outcome = await batcher.submit(T, 'cas1', { state: 'online', tsMs: t0 + 5000 });
    expect(outcome).toBe('out_of_order');
    expect(await row('cas1')).toMatchObject({
      connectivity: 'offline',
      last_presence_ts: new Date(t0 + 10_000),
    });
    expect(invalidated).not.toContain('cas1');
  });

  it('an unrelated change meanwhile is kept, and the presence applied on top of it', async () => {
    const batcher = batcherWith(async () => {
      await h.db
        .updateTable('devices')
        .set({ tags: ['raced'] })
        .where('device_id', '=', 'cas2')
        .execute();
    });
    const outcome = await batcher.submit(T, 'cas2', {
      state: 'online',
      tsMs: t0 + 5000,
      firmwareVersion: '3.0.0',
    });
    expect(outcome).toBe('applied');
    expect(await row('cas2')).toMatchObject({
      connectivity: 'online',
      firmware_version: '3.0.0',
      tags: ['raced'],
      last_presence_ts: new Date(t0 + 5000),
    });
    expect(invalidated).toContain('cas2');
  });
});
