// The device-meta loader: misses of one turn batched per tenant and 500 ids, lookups in flight
// joined, the cache filled unless a device event superseded the answer, unknown devices
// refused, and a registry without the batch operation asked device by device.
import { LRUCache } from 'lru-cache';
import { NotFoundError, UnavailableError } from '@drover/service-kit';
import {
  DeviceMetaLoader,
  type FetchMetaMany,
  type OnlinePage,
  warmDeviceMeta,
} from '../../src/service/device-meta.loader';
import { type DeviceMetaView } from '../../src/service/gateway.context';

const view: DeviceMetaView = { deviceType: 'sensor', status: 'active' };
const newCache = () => new LRUCache<string, DeviceMetaView>({ max: 10_000 });

describe('DeviceMetaLoader', () => {
  it('batches the misses of one turn per tenant (500 ids a call) and joins flights', async () => {
    const calls: { tenant: string; ids: string[] }[] = [];
    const many: FetchMetaMany = async (tenant, ids) => {
      calls.push({ tenant, ids });
      return new Map(ids.filter((id) => id !== 'ghost').map((id) => [id, view]));
    };
    const cache = newCache();
    const loader = new DeviceMetaLoader(cache, many, () => Promise.reject(new Error('unused')));
    const ids = Array.from({ length: 501 }, (_, i) => `d${i}`);
    const results = await Promise.all([
      ...ids.map((id) => loader.get('acme', id)),
      loader.get('acme', 'd0'), // joins the flight of d0
      loader.get('globex', 'd0'),
    ]);
    expect(results.every((r) => r.deviceType === 'sensor')).toBe(true);
    expect(calls.map((c) => [c.tenant, c.ids.length])).toEqual([
      ['acme', 500],
      ['acme', 1],
      ['globex', 1],
    ]);
    // Cached now: no call.
    await loader.get('acme', 'd7');
    expect(calls).toHaveLength(3);
    expect(loader.stats.batches).toBe(3);
    await expect(loader.get('acme', 'ghost')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('does not cache an answer a device event superseded, nor anything after forgetAll', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const many: FetchMetaMany = async (_t, ids) => {
      await gate;
      return new Map(ids.map((id) => [id, view]));
    };
    const cache = newCache();
    const loader = new DeviceMetaLoader(cache, many, () => Promise.reject(new Error('unused')));
    const a = loader.get('acme', 'a');
    const b = loader.get('acme', 'b');
    const c = loader.get('acme', 'c');
    await new Promise((r) => setImmediate(r));
    loader.forget('acme', 'a');
    release();
    await Promise.all([a, b, c]);
    expect(cache.has('acme/a')).toBe(false);
    expect(cache.has('acme/b')).toBe(true);
    loader.forgetAll();
    expect(cache.size).toBe(0);
  });

  it('asks device by device when the batch operation is unavailable; other errors fail', async () => {
    const one = jest.fn(async (_t: string, id: string) => {
      if (id === 'ghost') throw new NotFoundError('device_not_found', `no device ${id}`);
      return view;
    });
    const unavailable = new DeviceMetaLoader(
      null,
      () => Promise.reject(new UnavailableError('service_unavailable', 'no responders')),
      one,
    );
    await expect(unavailable.get('acme', 'x')).resolves.toEqual(view);
    await expect(unavailable.get('acme', 'ghost')).rejects.toBeInstanceOf(NotFoundError);
    expect(one).toHaveBeenCalledTimes(2);
    expect(unavailable.stats.single).toBe(2);

    const broken = new DeviceMetaLoader(null, () => Promise.reject(new Error('boom')), one);
    await expect(broken.get('acme', 'y')).rejects.toThrow('boom');
    expect(one).toHaveBeenCalledTimes(2);
  });

  it('prefetches what it does not hold, batched, never past a full cache', async () => {
    const calls: string[][] = [];
    let fail = false;
    const many: FetchMetaMany = async (_t, ids) => {
      calls.push(ids);
      if (fail) throw new Error('registry down');
      return new Map(ids.filter((id) => id !== 'ghost').map((id) => [id, view]));
    };
    const cache = new LRUCache<string, DeviceMetaView>({ max: 4 });
    const loader = new DeviceMetaLoader(cache, many, () => Promise.reject(new Error('unused')));
    await loader.get('acme', 'a');
    const flying = loader.get('acme', 'b');
    // a is cached and b in flight: neither is asked again; ghost is unknown, not a failure.
    await loader.prefetch('acme', ['a', 'b', 'c', 'ghost']);
    await flying;
    expect(calls).toEqual([['a'], ['b', 'c', 'ghost']]);
    expect(loader.stats).toMatchObject({ prefetched: 2, prefetchFailed: 0 });
    expect(cache.has('acme/c')).toBe(true);
    fail = true;
    await loader.prefetch('acme', ['d']);
    expect(loader.stats.prefetchFailed).toBe(1);
    expect(loader.full).toBe(false);
    fail = false;
    // Room for one more entry: e is looked up, f is not.
    await loader.prefetch('acme', ['e', 'f']);
    expect(calls.at(-1)).toEqual(['e']);
    expect(loader.full).toBe(true);
    await loader.prefetch('acme', ['g']);
    expect(calls.at(-1)).toEqual(['e']);
    // Without a cache there is nothing to fill.
    const uncached = new DeviceMetaLoader(null, many, () => Promise.reject(new Error('unused')));
    await uncached.prefetch('acme', ['a']);
    expect(uncached.stats.prefetched).toBe(0);
    expect(uncached.full).toBe(true);
  });

  it('warms the online devices page by page, per tenant, until stopped or full', async () => {
    const online = [
      ...Array.from({ length: 600 }, (_, i) => ({ tenant: 'acme', deviceId: `a${i}` })),
      { tenant: 'globex', deviceId: 'g0' },
    ];
    const page: OnlinePage = async (after, limit) => {
      const from =
        after === null
          ? 0
          : online.findIndex((d) => d.tenant === after.tenant && d.deviceId === after.deviceId) + 1;
      return online.slice(from, from + limit);
    };
    const calls: { tenant: string; n: number }[] = [];
    const many: FetchMetaMany = async (tenant, ids) => {
      calls.push({ tenant, n: ids.length });
      return new Map(ids.map((id) => [id, view]));
    };
    const loader = new DeviceMetaLoader(newCache(), many, () => Promise.reject(new Error('x')));
    expect(await warmDeviceMeta(loader, page, () => false)).toBe(601);
    expect(calls).toEqual([
      { tenant: 'acme', n: 500 },
      { tenant: 'acme', n: 100 },
      { tenant: 'globex', n: 1 },
    ]);
    const stopped = new DeviceMetaLoader(newCache(), many, () => Promise.reject(new Error('x')));
    expect(await warmDeviceMeta(stopped, page, () => true)).toBe(0);
    const small = new DeviceMetaLoader(
      new LRUCache<string, DeviceMetaView>({ max: 10 }),
      many,
      () => Promise.reject(new Error('x')),
    );
    // The first page fills the cache: no second page is read.
    expect(await warmDeviceMeta(small, page, () => false)).toBe(500);
  });
});
