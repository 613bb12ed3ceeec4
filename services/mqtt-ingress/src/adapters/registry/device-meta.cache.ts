// The hot path must not call Redis (let alone Postgres) per message: an in-process LRU sits in
// front of the registry's Redis-cached `get_devices_meta` RPC.
//
// - Stale-while-revalidate: a known device whose entry is older than `ttlMs` is served from the
//   entry while one background lookup refreshes it, so no message waits for the registry on an
//   expiry. While the registry is unreachable the last answer keeps serving, for at most
//   `staleMaxMs` past its fetch; after that the lookup's error surfaces (the handler retries).
// - Single flight: concurrent lookups of one key share one RPC; the misses of one event-loop
//   turn share one `get_devices_meta` call per tenant (a reconnect storm's statuses).
// - Negative answers ("unknown in this tenant") live `negativeTtlMs` only and are never served
//   stale: a device registered a moment ago is not refused for long even without events.
// - Events (adapters/nats/device-events.consumer.ts) drop an entry at once (`invalidate`), or
//   mark a device decommissioned straight from the event (`markDecommissioned`), and a lookup
//   that was in flight when the event came is not stored: its waiters look up again.
import { LRUCache } from 'lru-cache';
import { type Bus, rpcRequest } from '@drover/bus';
import { DEVICES_META_MAX } from '@drover/contracts';
import {
  type BatchEntry,
  createTurnBatcher,
  NotFoundError,
  UnavailableError,
} from '@drover/service-kit';
import { type DeviceMeta } from '../../domain/device-check';

/** Looks device metadata up; `null` = unknown in that tenant. */
export interface DeviceMetaLookup {
  /** Cached meta; rejects only when the registry is unreachable and no usable entry exists. */
  get(tenant: string, deviceId: string): Promise<DeviceMeta | null>;
  /** Forgets one device (after a device or provisioning event): the next message looks up. */
  invalidate(tenant: string, deviceId: string): void;
}

/** The cache with the hooks the event consumer and tests use. */
export interface DeviceMetaCache extends DeviceMetaLookup {
  /** Records a decommission from its event (no registry round trip; refused at once). */
  markDecommissioned(tenant: string, deviceId: string): void;
  /** Treats every entry as expired (events may have been missed): positives revalidate in the
   * background, negatives are dropped. */
  expireAll(): void;
  /** Entries held. */
  size(): number;
}

interface MetaKey {
  tenant: string;
  deviceId: string;
}

interface MetaResponse {
  device_id: string;
  tenant: string;
  device_type: string;
  status: 'active' | 'decommissioned';
}

/** Options of `createDeviceMetaCache`. */
export interface DeviceMetaCacheOptions {
  /** Age after which a positive entry is revalidated (served meanwhile). */
  ttlMs: number;
  /** Time to live of a negative ("unknown device") entry; 0 = not cached. */
  negativeTtlMs?: number;
  /** Longest a positive entry is served past its fetch while lookups fail. */
  staleMaxMs?: number;
  /** Entries kept. */
  max: number;
  /** RPC timeout. */
  timeoutMs?: number;
  /** Called when a background refresh fails (the entry keeps serving). */
  onRefreshError?: (err: unknown, tenant: string, deviceId: string) => void;
  /** Clock (tests). */
  now?: () => number;
}

interface Entry {
  meta: DeviceMeta | null;
  fetchedAt: number;
  /** Value of `epoch` when fetched: an older one is expired by `expireAll`. */
  epoch: number;
}

interface Flight {
  promise: Promise<DeviceMeta | null>;
  /** Set when an event arrived while in flight: the answer may predate it. */
  superseded: boolean;
}

/** An LRU in front of `device-registry.get_devices_meta` (`get_device_meta` for older ones). */
export function createDeviceMetaCache(bus: Bus, opts: DeviceMetaCacheOptions): DeviceMetaCache {
  const now = opts.now ?? Date.now;
  const ttlMs = Math.max(opts.ttlMs, 0);
  const negativeTtlMs = Math.max(opts.negativeTtlMs ?? Math.min(1000, ttlMs), 0);
  const staleMaxMs = Math.max(opts.staleMaxMs ?? 300_000, ttlMs);
  const entries = new LRUCache<string, Entry>({ max: opts.max });
  const flights = new Map<string, Flight>();
  let epoch = 0;

  const toMeta = (res: MetaResponse): DeviceMeta => ({
    deviceId: res.device_id,
    tenant: res.tenant,
    deviceType: res.device_type,
    status: res.status,
  });
  const timeoutMs = opts.timeoutMs ?? 5000;

  async function lookupOne(tenant: string, deviceId: string): Promise<DeviceMeta | null> {
    try {
      return toMeta(
        await rpcRequest<MetaResponse>(
          bus,
          'device-registry',
          'get_device_meta',
          { tenant, device_id: deviceId },
          { timeoutMs },
        ),
      );
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** One tenant's misses of a turn: one `get_devices_meta` call (unknown ids are left out). */
  async function lookupMany(
    tenant: string,
    entries: BatchEntry<MetaKey, DeviceMeta | null>[],
  ): Promise<void> {
    let found: Map<string, DeviceMeta>;
    try {
      const res = await rpcRequest<{ items: MetaResponse[] }>(
        bus,
        'device-registry',
        'get_devices_meta',
        { tenant, device_ids: [...new Set(entries.map((e) => e.item.deviceId))] },
        { timeoutMs },
      );
      found = new Map(res.items.map((m) => [m.device_id, toMeta(m)]));
    } catch (err) {
      // A registry older than this ingress has no `get_devices_meta` (no responders, at once):
      // each device alone, as before. A registry that is down fails those as fast.
      if (!(err instanceof UnavailableError)) throw err;
      await Promise.all(
        entries.map((e) => lookupOne(tenant, e.item.deviceId).then(e.resolve, e.reject)),
      );
      return;
    }
    for (const e of entries) e.resolve(found.get(e.item.deviceId) ?? null);
  }

  // The misses of one event-loop turn (a reconnect storm's statuses, the first messages after a
  // start) go to the registry together: one call per tenant and DEVICES_META_MAX ids.
  const misses = createTurnBatcher<MetaKey, DeviceMeta | null>(
    async (entries) => {
      const byTenant = new Map<string, BatchEntry<MetaKey, DeviceMeta | null>[]>();
      for (const e of entries) {
        const list = byTenant.get(e.item.tenant);
        if (list) list.push(e);
        else byTenant.set(e.item.tenant, [e]);
      }
      await Promise.all(
        [...byTenant].map(([tenant, list]) =>
          lookupMany(tenant, list).catch((err: unknown) => list.forEach((e) => e.reject(err))),
        ),
      );
    },
    { max: DEVICES_META_MAX, concurrency: 8 },
  );
  const lookup = (tenant: string, deviceId: string) => misses.submit({ tenant, deviceId });

  /** Joins the key's lookup in flight or starts one; a settled lookup stores its answer. */
  function fly(key: string, tenant: string, deviceId: string): Flight {
    const running = flights.get(key);
    if (running) return running;
    const flight: Flight = { superseded: false, promise: Promise.resolve(null) };
    const epochAtStart = epoch;
    flight.promise = lookup(tenant, deviceId).then(
      (meta) => {
        if (flights.get(key) === flight) flights.delete(key);
        if (!flight.superseded && (meta !== null || negativeTtlMs > 0)) {
          entries.set(key, { meta, fetchedAt: now(), epoch: epochAtStart });
        }
        return meta;
      },
      (err: unknown) => {
        if (flights.get(key) === flight) flights.delete(key);
        throw err;
      },
    );
    flights.set(key, flight);
    return flight;
  }

  function supersede(key: string): void {
    const flight = flights.get(key);
    if (flight) {
      flight.superseded = true;
      flights.delete(key);
    }
  }

  return {
    async get(tenant, deviceId) {
      const key = `${tenant}/${deviceId}`;
      const entry = entries.get(key);
      if (entry) {
        const age = now() - entry.fetchedAt;
        const current = entry.epoch === epoch;
        if (entry.meta === null) {
          if (current && age < negativeTtlMs) return null;
        } else if (current && age < ttlMs) {
          return entry.meta;
        } else if (age < staleMaxMs) {
          // Stale: serve it, refresh once in the background; a failure keeps the entry.
          if (!flights.has(key)) {
            fly(key, tenant, deviceId).promise.catch((err: unknown) =>
              opts.onRefreshError?.(err, tenant, deviceId),
            );
          }
          return entry.meta;
        }
        entries.delete(key);
      }
      // A miss: wait for the (shared) lookup; one overtaken by an event is repeated.
      for (let attempt = 0; ; attempt += 1) {
        const flight = fly(key, tenant, deviceId);
        const meta = await flight.promise;
        if (!flight.superseded || attempt >= 2) return meta;
      }
    },
    invalidate(tenant, deviceId) {
      const key = `${tenant}/${deviceId}`;
      entries.delete(key);
      supersede(key);
    },
    markDecommissioned(tenant, deviceId) {
      const key = `${tenant}/${deviceId}`;
      const entry = entries.get(key);
      supersede(key);
      if (entry?.meta) {
        // Written from the event itself: the registry's own cache may lag its event by a moment.
        entries.set(key, {
          meta: { ...entry.meta, status: 'decommissioned' },
          fetchedAt: now(),
          epoch,
        });
      } else {
        entries.delete(key);
      }
    },
    expireAll() {
      epoch += 1;
      for (const flight of flights.values()) flight.superseded = true;
      flights.clear();
    },
    size() {
      return entries.size;
    },
  };
}
