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
  /** Registry calls made (tests, diagnostics). */
  readonly stats = { batches: 0, single: 0 };

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
