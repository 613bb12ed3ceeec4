// A short-lived in-process cache for hot reads (GET device), kept correct by invalidation:
// every change the gateway hears of (its own mutations, the services' domain events) drops the
// entry, and a read that raced with an invalidation is not stored (the epoch check), so a
// stale answer can only come from an event not yet delivered, and never outlives the TTL.
import { LRUCache } from 'lru-cache';

/** Options of `ReadCache`. */
export interface ReadCacheOptions {
  /** Entries kept at most (least recently used go first). */
  max: number;
  /** Lifetime of an entry; 0 turns the cache off. */
  ttlMs: number;
  /** Clock in milliseconds (tests); default `performance.now`. */
  now?: () => number;
}

/** The cache; values are whatever the caller serves (e.g. a serialized body). */
export class ReadCache<V extends object | string> {
  private epoch = 0;
  private readonly lru: LRUCache<string, V> | null;
  /** Loads in flight, so a burst of misses on one key makes one call, not one each. */
  private readonly inflight = new Map<string, Promise<V>>();

  constructor(opts: ReadCacheOptions) {
    const on = opts.ttlMs > 0 && opts.max > 0;
    // A given clock is read on every check (lru-cache otherwise caches "now" for 1 ms).
    const clock = opts.now ? { perf: { now: opts.now }, ttlResolution: 0 } : {};
    this.lru = on ? new LRUCache<string, V>({ max: opts.max, ttl: opts.ttlMs, ...clock }) : null;
  }

  /** Whether the cache stores anything at all. */
  get enabled(): boolean {
    return this.lru !== null;
  }

  /** The cached value, if fresh. */
  get(key: string): V | undefined {
    return this.lru?.get(key);
  }

  /**
   * The cached value, else the result of `load` (stored if nothing was invalidated meanwhile).
   * Concurrent misses on a key share one load; a load that an invalidation overtook is not
   * joined by later callers.
   */
  getOrLoad(key: string, load: () => Promise<V>): Promise<V> {
    if (this.lru === null) return load();
    const hit = this.lru.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const pending = this.inflight.get(key);
    if (pending) return pending;
    const ticket = this.epoch;
    const loading = load().then(
      (value) => {
        this.settle(key, loading);
        this.set(key, value, ticket);
        return value;
      },
      (err: unknown) => {
        this.settle(key, loading);
        throw err;
      },
    );
    this.inflight.set(key, loading);
    return loading;
  }

  private settle(key: string, loading: Promise<V>): void {
    if (this.inflight.get(key) === loading) this.inflight.delete(key);
  }

  /** Take before reading the source; pass to `set` with what was read. */
  ticket(): number {
    return this.epoch;
  }

  /** Stores `value` unless something was invalidated since `ticket`; returns whether stored. */
  set(key: string, value: V, ticket: number): boolean {
    if (this.lru === null || ticket !== this.epoch) return false;
    this.lru.set(key, value);
    return true;
  }

  /** Drops `key` and voids reads in flight. */
  invalidate(key: string): void {
    this.epoch++;
    this.lru?.delete(key);
    this.inflight.delete(key);
  }

  /** Drops everything (e.g. after missing events during a reconnect). */
  clear(): void {
    this.epoch++;
    this.lru?.clear();
    this.inflight.clear();
  }

  /** Entries held now. */
  get size(): number {
    return this.lru?.size ?? 0;
  }
}

/** The cache key of a device of a tenant. */
export function deviceCacheKey(tenant: string, deviceId: string): string {
  return `${tenant}/${deviceId}`;
}
