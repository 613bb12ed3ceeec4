// The device-meta loader: misses of one turn batched per tenant and 500 ids, lookups in flight
// joined, the cache filled unless a device event superseded the answer, unknown devices
// refused, and a registry without the batch operation asked device by device.
import { LRUCache } from 'lru-cache';
import { NotFoundError, UnavailableError } from '@drover/service-kit';
import { DeviceMetaLoader, type FetchMetaMany } from '../../src/service/device-meta.loader';
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
});
