// The hot path must not call Redis (let alone Postgres) per message: an in-process LRU with a
// short TTL sits in front of the registry's Redis-cached `get_device_meta` RPC.
import { LRUCache } from 'lru-cache';
import { type Bus, rpcRequest } from '@drover/bus';
import { NotFoundError } from '@drover/service-kit';
import { type DeviceMeta } from '../../domain/device-check';

/** Looks device metadata up; `null` = unknown in that tenant. */
export interface DeviceMetaLookup {
  /** Cached meta, fetched once per TTL; rejects only when the registry is unreachable. */
  get(tenant: string, deviceId: string): Promise<DeviceMeta | null>;
  /** Forgets one device (e.g. after a decommission event). */
  invalidate(tenant: string, deviceId: string): void;
}

interface MetaResponse {
  device_id: string;
  tenant: string;
  device_type: string;
  status: 'active' | 'decommissioned';
}

/** Options of `createDeviceMetaCache`. */
export interface DeviceMetaCacheOptions {
  /** Time to live of an entry (a negative answer included). */
  ttlMs: number;
  /** Entries kept. */
  max: number;
  /** RPC timeout. */
  timeoutMs?: number;
}

/** An LRU in front of `device-registry.get_device_meta`; concurrent misses share one call. */
export function createDeviceMetaCache(bus: Bus, opts: DeviceMetaCacheOptions): DeviceMetaLookup {
  const cache = new LRUCache<string, { meta: DeviceMeta | null }>({
    max: opts.max,
    ttl: Math.max(opts.ttlMs, 1),
    // While the registry is down, a known device keeps flowing on its last answer.
    allowStaleOnFetchRejection: true,
    noDeleteOnFetchRejection: true,
    fetchMethod: async (key) => {
      const sep = key.indexOf('/');
      const tenant = key.slice(0, sep);
      const deviceId = key.slice(sep + 1);
      try {
        const res = await rpcRequest<MetaResponse>(
          bus,
          'device-registry',
          'get_device_meta',
          { tenant, device_id: deviceId },
          { timeoutMs: opts.timeoutMs ?? 5000 },
        );
        return {
          meta: {
            deviceId: res.device_id,
            tenant: res.tenant,
            deviceType: res.device_type,
            status: res.status,
          },
        };
      } catch (err) {
        if (err instanceof NotFoundError) return { meta: null };
        throw err;
      }
    },
  });
  return {
    async get(tenant, deviceId) {
      const entry = await cache.fetch(`${tenant}/${deviceId}`);
      return entry?.meta ?? null;
    },
    invalidate(tenant, deviceId) {
      cache.delete(`${tenant}/${deviceId}`);
    },
  };
}
