import { deviceCacheKey, ReadCache } from '../../src/domain/read-cache';

describe('ReadCache', () => {
  const make = () => new ReadCache<string>({ max: 10, ttlMs: 60_000 });

  it('stores and serves a value read with a current ticket', () => {
    const cache = make();
    expect(cache.set('k', 'v', cache.ticket())).toBe(true);
    expect(cache.get('k')).toBe('v');
    expect(cache.size).toBe(1);
  });

  it.each<[string, (c: ReadCache<string>) => void]>([
    ['invalidated (same key)', (c) => c.invalidate('k')],
    ['invalidated (other key)', (c) => c.invalidate('other')],
    ['cleared', (c) => c.clear()],
  ])('does not store a read that raced with a change: %s', (_name, change) => {
    const cache = make();
    const ticket = cache.ticket();
    change(cache);
    expect(cache.set('k', 'stale', ticket)).toBe(false);
    expect(cache.get('k')).toBeUndefined();
  });

  it('invalidate drops the entry, clear drops all', () => {
    const cache = make();
    cache.set('a', '1', cache.ticket());
    cache.set('b', '2', cache.ticket());
    cache.invalidate('a');
    expect([cache.get('a'), cache.get('b')]).toEqual([undefined, '2']);
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('expires entries after the TTL', () => {
    let now = 1000;
    const cache = new ReadCache<string>({ max: 10, ttlMs: 1000, now: () => now });
    cache.set('k', 'v', cache.ticket());
    now += 999;
    expect(cache.get('k')).toBe('v');
    now += 2;
    expect(cache.get('k')).toBeUndefined();
  });

  it.each<[string, { max: number; ttlMs: number }]>([
    ['ttl 0', { max: 10, ttlMs: 0 }],
    ['max 0', { max: 0, ttlMs: 1000 }],
  ])('is off with %s', (_name, opts) => {
    const cache = new ReadCache<string>(opts);
    expect(cache.enabled).toBe(false);
    expect(cache.set('k', 'v', cache.ticket())).toBe(false);
    expect(cache.get('k')).toBeUndefined();
    cache.invalidate('k');
    cache.clear();
    expect(cache.size).toBe(0);
  });

  it('is on with a TTL and a size', () => {
    expect(make().enabled).toBe(true);
  });
});

describe('deviceCacheKey', () => {
  it('keys by tenant and device (ids cannot contain the separator)', () => {
    expect(deviceCacheKey('acme', 'd1')).toBe('acme/d1');
    expect(deviceCacheKey('acme', 'd1')).not.toBe(deviceCacheKey('acm', 'ed1'));
  });
});

describe('ReadCache.getOrLoad', () => {
  const make = () => new ReadCache<string>({ max: 10, ttlMs: 60_000 });
  const deferred = () => {
    let resolve!: (v: string) => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<string>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };

  it('loads once for a burst of misses, then serves the stored value', async () => {
    const cache = make();
    const d = deferred();
    const load = jest.fn(() => d.promise);
    const burst = [cache.getOrLoad('k', load), cache.getOrLoad('k', load)];
    d.resolve('v');
    await expect(Promise.all(burst)).resolves.toEqual(['v', 'v']);
    await expect(cache.getOrLoad('k', load)).resolves.toBe('v');
    expect(load).toHaveBeenCalledTimes(1);
  });

  it('a load overtaken by an invalidation is neither joined nor stored', async () => {
    const cache = make();
    const first = deferred();
    const second = deferred();
    const a = cache.getOrLoad('k', () => first.promise);
    cache.invalidate('k');
    const b = cache.getOrLoad('k', () => second.promise);
    second.resolve('new');
    first.resolve('old');
    await expect(a).resolves.toBe('old');
    await expect(b).resolves.toBe('new');
    expect(cache.get('k')).toBe('new');
  });

  it('a failed load is shared by its joiners and not remembered', async () => {
    const cache = make();
    const d = deferred();
    const a = cache.getOrLoad('k', () => d.promise);
    const b = cache.getOrLoad('k', () => Promise.resolve('unused'));
    d.reject(new Error('down'));
    await expect(a).rejects.toThrow('down');
    await expect(b).rejects.toThrow('down');
    await expect(cache.getOrLoad('k', () => Promise.resolve('up'))).resolves.toBe('up');
  });

  it('clear forgets loads in flight', async () => {
    const cache = make();
    const d = deferred();
    const a = cache.getOrLoad('k', () => d.promise);
    cache.clear();
    await expect(cache.getOrLoad('k', () => Promise.resolve('fresh'))).resolves.toBe('fresh');
    d.resolve('old');
    await expect(a).resolves.toBe('old');
    expect(cache.get('k')).toBe('fresh');
  });

  it('when off, every call loads', async () => {
    const cache = new ReadCache<string>({ max: 10, ttlMs: 0 });
    const load = jest.fn(() => Promise.resolve('v'));
    await cache.getOrLoad('k', load);
    await cache.getOrLoad('k', load);
    expect(load).toHaveBeenCalledTimes(2);
  });
});
