// Cache-aside for hot device metadata. Redis is only an accelerator: every failure here is
// logged and turned into a miss, so the registry answers from Postgres while Redis is down.
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { type Device, type Naming } from '@drover/contracts';
import { type Logger } from '@drover/observability';

/** A device address. */
export interface DeviceKey {
  /** Tenant id. */
  tenant: string;
  /** Device id. */
  deviceId: string;
}

/** Options of {@link createDeviceCache}. */
export interface DeviceCacheOptions {
  /** The Redis client (offline queue disabled, so a dead Redis fails fast). */
  redis: Redis;
  /** Namespaced key builder. */
  naming: Naming;
  /** Logger (failures are logged at most once per `warnEveryMs`). */
  logger: Logger;
  /** Entry lifetime. */
  ttlSeconds: number;
  /** Hot keys whose remaining TTL is below this are refreshed in the background. */
  refreshBelowSeconds: number;
  /** A key counts as hot when it was read within this window. */
  hotWindowMs: number;
  /** Hot keys tracked at most (least recently read are forgotten first). */
  maxTracked?: number;
  /** Delay of the second DEL after an invalidation (default 1000 ms; 0 disables it). */
  secondInvalidationMs?: number;
  /** Counts hits, misses and errors. */
  onResult?: (result: 'hit' | 'miss' | 'error') => void;
}

/** Cache of `Device` documents by (tenant, device id). */
export interface DeviceCache {
  /** The cached device, or undefined on a miss or a Redis failure. */
  get(key: DeviceKey): Promise<Device | undefined>;
  /** Stores a device with the TTL (best effort). */
  set(device: Device): Promise<void>;
  /** Deletes entries after a committed change (best effort), and again a moment later. */
  invalidate(keys: DeviceKey[]): Promise<void>;
  /** Cancels pending second invalidations (before the Redis client is closed). */
  close(): void;
  /**
   * Re-reads hot entries that are about to expire; `load` reads Postgres and answers
   * `undefined` for a device that is gone, `null` when it could not tell (the entry is kept).
   */
  refreshHot(load: (key: DeviceKey) => Promise<Device | undefined | null>): Promise<number>;
  /** The Redis key of a device (tests). */
  keyOf(key: DeviceKey): string;
}

/** Builds the cache over an ioredis client. */
export function createDeviceCache(opts: DeviceCacheOptions): DeviceCache {
  const hot = new LRUCache<string, DeviceKey & { lastHit: number }>({
    max: opts.maxTracked ?? 10_000,
  });
  let lastWarn = 0;
  const failed = (op: string, err: unknown): void => {
    opts.onResult?.('error');
    const now = Date.now();
    if (now - lastWarn < 10_000) return;
    lastWarn = now;
    opts.logger.warn({ event: 'cache.redis_failed', op, err: String(err) }, 'redis failed');
  };
  const keyOf = (k: DeviceKey) => opts.naming.redisKey('device', k.tenant, k.deviceId);
  const pending = new Set<NodeJS.Timeout>();
  const secondMs = opts.secondInvalidationMs ?? 1000;
  const del = async (keys: string[]) => {
    try {
      await opts.redis.del(...keys);
    } catch (err) {
      failed('del', err);
    }
  };

  return {
    keyOf,
    async get(k) {
      const key = keyOf(k);
      hot.set(key, { ...k, lastHit: Date.now() });
      try {
        const raw = await opts.redis.get(key);
        opts.onResult?.(raw === null ? 'miss' : 'hit');
        return raw === null ? undefined : (JSON.parse(raw) as Device);
      } catch (err) {
        failed('get', err);
        return undefined;
      }
    },
    async set(device) {
      try {
        const key = keyOf({ tenant: device.tenant, deviceId: device.device_id });
        await opts.redis.set(key, JSON.stringify(device), 'EX', opts.ttlSeconds);
      } catch (err) {
        failed('set', err);
      }
    },
    async invalidate(keys) {
      if (keys.length === 0) return;
      const redisKeys = keys.map(keyOf);
      await del(redisKeys);
      if (secondMs <= 0) return;
      // A reader that loaded the old row just before the commit may write it back after our
      // DEL; a second DEL shortly after bounds that staleness to this delay, not the TTL.
      const timer = setTimeout(() => {
        pending.delete(timer);
        void del(redisKeys);
      }, secondMs);
      timer.unref();
      pending.add(timer);
    },
    close() {
      for (const timer of pending) clearTimeout(timer);
      pending.clear();
    },
    async refreshHot(load) {
      const since = Date.now() - opts.hotWindowMs;
      const candidates = [...hot.values()].filter((e) => e.lastHit >= since);
      if (candidates.length === 0) return 0;
      let refreshed = 0;
      try {
        const pipeline = opts.redis.pipeline();
        for (const c of candidates) pipeline.pttl(keyOf(c));
        const ttls = (await pipeline.exec()) ?? [];
        const due = candidates.filter((_c, i) => {
          const ms = ttls[i]?.[1];
          return typeof ms === 'number' && ms >= 0 && ms < opts.refreshBelowSeconds * 1000;
        });
        for (const c of due) {
          const device = await load(c);
          if (device === null) continue;
          const key = keyOf(c);
          // XX: an invalidation that raced with our read has deleted the key; do not revive
          // the stale value we just read.
          if (device === undefined) await opts.redis.del(key);
          else await opts.redis.set(key, JSON.stringify(device), 'EX', opts.ttlSeconds, 'XX');
          refreshed += 1;
        }
      } catch (err) {
        failed('refresh', err);
      }
      return refreshed;
    },
  };
}
