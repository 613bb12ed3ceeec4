// Device metadata for creates: an LRU (kept current by the registry's device events) in front
// of the registry. The misses of one event-loop turn go to the registry together, one
// `get_devices_meta` call per tenant and 500 ids, and a lookup already on its way is joined: a
// burst of commands to devices the gateway has not seen yet (a start under load, a fan-out)
// costs one call per 500 devices instead of one per device.
import { type LRUCache } from 'lru-cache';
import { NotFoundError, UnavailableError } from '@drover/service-kit';
import { type DeviceMetaView } from './gateway.context';

/** Metadata of the devices among `ids` that exist (the registry's `get_devices_meta`). */
export type FetchMetaMany = (tenant: string, ids: string[]) => Promise<Map<string, DeviceMetaView>>;
/** Metadata of one device; throws NotFoundError (the registry's `get_device_meta`). */
export type FetchMetaOne = (tenant: string, id: string) => Promise<DeviceMetaView>;

interface Flight {
  promise: Promise<DeviceMetaView>;
  resolve: (v: DeviceMetaView) => void;
  reject: (err: unknown) => void;
  /** A device event came while it was in flight: its answer may predate the change. */
  superseded: boolean;
}

/** Ids per `get_devices_meta` call. */
export const META_BATCH_MAX = 500;

/** Batches and joins device-meta lookups; see the file comment. */
export class DeviceMetaLoader {
  private readonly flights = new Map<string, Flight>();
  private queued = new Map<string, string[]>();
  private scheduled = false;
  /** Registry calls made, and devices prefetched (tests, diagnostics). */
  readonly stats = { batches: 0, single: 0, prefetched: 0, prefetchFailed: 0 };

  constructor(
    private readonly cache: LRUCache<string, DeviceMetaView> | null,
    private readonly fetchMany: FetchMetaMany,
    private readonly fetchOne: FetchMetaOne,
  ) {}

  /** The device's metadata; NotFoundError for an unknown device. */
  get(tenant: string, deviceId: string): Promise<DeviceMetaView> {
    const key = `${tenant}/${deviceId}`;
    const hit = this.cache?.get(key);
    if (hit !== undefined) return Promise.resolve(hit);
    const running = this.flights.get(key);
    if (running !== undefined) return running.promise;
    let resolve!: (v: DeviceMetaView) => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<DeviceMetaView>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.flights.set(key, { promise, resolve, reject, superseded: false });
    let ids = this.queued.get(tenant);
    if (ids === undefined) this.queued.set(tenant, (ids = []));
    ids.push(deviceId);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
    return promise;
  }

  /**
   * Looks up, batched like misses, the devices among `deviceIds` the cache does not hold yet: a
   * device that just came online is about to be commanded, and its first command then finds it
   * cached instead of waiting for the registry (2,000 devices connecting cost four registry
   * calls this way, against one per device when each first command asks on its own). Does
   * nothing without a cache or once the cache is full: a prefetch never evicts what commands
   * use. Resolves when the lookups have settled; a failed one is only counted (`get` asks
   * again), an unknown device is not an error.
   */
  prefetch(tenant: string, deviceIds: Iterable<string>): Promise<void> {
    const cache = this.cache;
    if (cache === null) return Promise.resolve();
    const lookups: Promise<void>[] = [];
    for (const id of deviceIds) {
      if (this.full) break;
      const key = `${tenant}/${id}`;
      if (cache.has(key) || this.flights.has(key)) continue;
      this.stats.prefetched++;
      lookups.push(
        this.get(tenant, id).then(
          () => undefined,
          (err: unknown) => {
            if (!(err instanceof NotFoundError)) this.stats.prefetchFailed++;
          },
        ),
      );
    }
    return Promise.all(lookups).then(() => undefined);
  }

  /** True when no prefetch can add anything: no cache, or one its entries and flights fill. */
  get full(): boolean {
    return this.cache === null || this.cache.size + this.flights.size >= this.cache.max;
  }

  /** A device changed: drop its entry, and a lookup in flight must not store its answer. */
  forget(tenant: string, deviceId: string): void {
    const key = `${tenant}/${deviceId}`;
    this.cache?.delete(key);
    const flight = this.flights.get(key);
    if (flight !== undefined) flight.superseded = true;
  }

  /** Every entry is suspect (the device events were lost). */
  forgetAll(): void {
    this.cache?.clear();
    for (const flight of this.flights.values()) flight.superseded = true;
  }

  private flush(): void {
    this.scheduled = false;
    const queued = this.queued;
    this.queued = new Map();
    for (const [tenant, ids] of queued) {
      for (let i = 0; i < ids.length; i += META_BATCH_MAX) {
        void this.load(tenant, ids.slice(i, i + META_BATCH_MAX));
      }
    }
  }

  private async load(tenant: string, ids: string[]): Promise<void> {
    this.stats.batches++;
    let found: Map<string, DeviceMetaView> | null = null;
    let failure: unknown = null;
    try {
      found = await this.fetchMany(tenant, ids);
    } catch (err) {
      failure = err;
    }
    for (const id of ids) {
      const key = `${tenant}/${id}`;
      const flight = this.flights.get(key);
      if (flight === undefined) continue; // settled already (a repeated id)
      if (found !== null) {
        this.settle(key, flight, found.get(id), id);
      } else if (failure instanceof UnavailableError) {
        // A registry without `get_devices_meta` (older than this gateway) does not answer it:
        // ask for the device alone, as before.
        this.stats.single++;
        this.fetchOne(tenant, id).then(
          (meta) => this.settle(key, flight, meta, id),
          (err: unknown) => this.fail(key, flight, err),
        );
      } else {
        this.fail(key, flight, failure);
      }
    }
  }

  private settle(key: string, flight: Flight, meta: DeviceMetaView | undefined, id: string): void {
    this.flights.delete(key);
    if (meta === undefined) {
      flight.reject(new NotFoundError('device_not_found', `no device ${id}`));
      return;
    }
    if (!flight.superseded) this.cache?.set(key, meta);
    flight.resolve(meta);
  }

  private fail(key: string, flight: Flight, err: unknown): void {
    this.flights.delete(key);
    flight.reject(err);
  }
}

/** A keyset page of online devices (`onlineDevicesPage`). */
export type OnlinePage = (
  after: { tenant: string; deviceId: string } | null,
  limit: number,
) => Promise<{ tenant: string; deviceId: string }[]>;

/**
 * At start, prefetches the meta of the devices online already, a page of {@link META_BATCH_MAX}
 * at a time (one registry call each, one after another, so a large fleet does not flood the
 * registry): after a restart, commands to a connected fleet find their devices cached as after
 * the connects. Stops early when `stopped()` or the cache is full; returns the devices read.
 */
export async function warmDeviceMeta(
  loader: DeviceMetaLoader,
  page: OnlinePage,
  stopped: () => boolean,
): Promise<number> {
  let read = 0;
  let after: { tenant: string; deviceId: string } | null = null;
  while (!stopped() && !loader.full) {
    const rows = await page(after, META_BATCH_MAX);
    read += rows.length;
    const byTenant = new Map<string, string[]>();
    for (const r of rows) {
      const ids = byTenant.get(r.tenant);
      if (ids === undefined) byTenant.set(r.tenant, [r.deviceId]);
      else ids.push(r.deviceId);
    }
    for (const [tenant, ids] of byTenant) await loader.prefetch(tenant, ids);
    if (rows.length < META_BATCH_MAX) break;
    after = rows[rows.length - 1] ?? null;
  }
  return read;
}
