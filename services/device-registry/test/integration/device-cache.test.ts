// Redis cache-aside for get_device/get_device_meta: hits, invalidation after every change,
// background refresh of hot keys, and the Postgres fallback while Redis is down. Uses a
// private redis-server so it can be killed.
import { Redis } from 'ioredis';
import { type Device, DeviceRegistryOps as Ops } from '@drover/contracts';
import { type PrivateRedis, startPrivateRedis, waitFor } from '@drover/testing';
import { type Harness, startHarness } from './registry.harness';

let redisServer: PrivateRedis;
let redis: Redis;
let h: Harness;
const T = 'acme';

beforeAll(async () => {
  redisServer = await startPrivateRedis();
  redis = new Redis(redisServer.url, { maxRetriesPerRequest: 1 });
  h = await startHarness('reg_cache', {
    REDIS_URL: redisServer.url,
    CACHE_REFRESH_INTERVAL_MS: 200,
    CACHE_TTL_S: 30,
    // Every hot key is "about to expire" so each refresh tick re-reads it from Postgres.
    CACHE_REFRESH_BELOW_TTL_S: 31,
  });
}, 30_000);
afterAll(async () => {
  await h.close();
  redis.disconnect();
  await redisServer.stop();
});

const key = (id: string) => h.registry.ctx.cache.keyOf({ tenant: T, deviceId: id });
const get = (id: string) => h.rpc<Device>(Ops.getDevice, { tenant: T, device_id: id });
const cached = async (id: string) => {
  const raw = await redis.get(key(id));
  return raw === null ? null : (JSON.parse(raw) as Device);
};
const cacheCount = async (result: string) => {
  const metric = h.registry.metrics.registry.getSingleMetric('registry_cache_total');
  const values = (await metric?.get())?.values ?? [];
  return values.find((v) => v.labels.result === result)?.value ?? 0;
};
// A change behind the registry's back: only a cache hit can still show the old value.
const setAttributesInDb = (id: string, attributes: Record<string, unknown>) =>
  h.db
    .updateTable('devices')
    .set({ attributes: JSON.stringify(attributes) })
    .where('tenant', '=', T)
    .where('device_id', '=', id)
    .execute();

describe('device cache', () => {
  beforeAll(async () => {
    for (const id of ['c1', 'c2', 'c3', 'c4']) {
      await h.rpc(Ops.createDevice, {
        tenant: T,
        device_id: id,
        device_type: 'sensor',
        hardware_id: `HW-${id}`,
        attributes: { v: 1 },
      });
    }
  });

  it('a read fills the namespaced key with a 30 s TTL, and the next read is a hit', async () => {
    expect(await cached('c1')).toBeNull();
    const first = await get('c1');
    expect(key('c1')).toBe(`${h.ns}:drover:device:${T}:c1`);
    expect(await cached('c1')).toEqual(first);
    const ttl = await redis.ttl(key('c1'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(30);
    const hitsBefore = await cacheCount('hit');
    expect(await get('c1')).toEqual(first);
    await expect(h.rpc(Ops.getDeviceMeta, { tenant: T, device_id: 'c1' })).resolves.toEqual({
      device_id: 'c1',
      tenant: T,
      device_type: 'sensor',
      status: 'active',
    });
    expect(await cacheCount('hit')).toBe(hitsBefore + 2);
  });

  it('every change through the registry invalidates the entry after commit', async () => {
    await get('c2');
    expect(await cached('c2')).not.toBeNull();
    const updated = await h.rpc<Device>(Ops.updateDevice, {
      tenant: T,
      device_id: 'c2',
      attributes: { v: 2 },
    });
    expect(await cached('c2')).toBeNull();
    expect(await get('c2')).toEqual(updated);
    await h.rpc(Ops.decommissionDevice, { tenant: T, device_id: 'c2' });
    expect(await cached('c2')).toBeNull();
    await expect(h.rpc(Ops.getDeviceMeta, { tenant: T, device_id: 'c2' })).resolves.toMatchObject({
      status: 'decommissioned',
    });
  });

  it('a stale entry written back by a racing reader is deleted again shortly after', async () => {
    // Only this update's second DEL may clear the key (not one left over from the creations).
    h.registry.ctx.cache.close();
    const before = await get('c3');
    await h.rpc(Ops.updateDevice, { tenant: T, device_id: 'c3', tags: ['raced'] });
    // What a reader that loaded the row before the commit would write after our first DEL.
    await redis.set(key('c3'), JSON.stringify(before), 'EX', 30);
    await waitFor(async () => (await redis.exists(key('c3'))) === 0, {
      timeoutMs: 3000,
      description: 'second invalidation',
    });
    expect((await get('c3')).tags).toEqual(['raced']);
  });

  it('refreshes hot keys in the background from Postgres', async () => {
    // The creation of c4 left a second DEL pending (1 s after it); when the earlier tests run
    // fast it would land after this read and, the refresh writing only over an existing key
    // (XX), nothing would bring the entry back. Cancel what is pending, then read.
    h.registry.ctx.cache.close();
    await get('c4');
    expect((await cached('c4'))?.attributes.v).toBe(1);
    await setAttributesInDb('c4', { v: 3 });
    // The refresher ticks every 200 ms; a loaded CI machine can hold a tick back for seconds.
    const refreshed = await waitFor(async () => (await cached('c4'))?.attributes.v === 3, {
      timeoutMs: 25_000,
      intervalMs: 250,
      description: 'background refresh of c4',
    });
    expect(refreshed).toBe(true);
  }, 40_000);

  it('a missing device is not cached and stays 404', async () => {
    await expect(get('nope')).rejects.toMatchObject({ status: 404, code: 'device_not_found' });
    expect(await redis.exists(key('nope'))).toBe(0);
  });

  it('falls back to Postgres while Redis is down, and caches again when it is back', async () => {
    await redisServer.kill();
    await setAttributesInDb('c1', { v: 'from-db' });
    await expect(get('c1')).resolves.toMatchObject({ attributes: { v: 'from-db' } });
    await expect(
      h.rpc(Ops.updateDevice, { tenant: T, device_id: 'c1', attributes: { v: 'while-down' } }),
    ).resolves.toMatchObject({ attributes: { v: 'while-down' } });
    await expect(get('c1')).resolves.toMatchObject({ attributes: { v: 'while-down' } });
    await redisServer.start();
    await waitFor(
      async () => {
        await get('c1');
        return (await cached('c1'))?.attributes.v === 'while-down';
      },
      { timeoutMs: 15_000, intervalMs: 200, description: 'cache back after restart' },
    );
  });
});
