// Presence in batches. A reconnect storm (a broker restart, a site's power coming back) brings
// thousands of `online`s at once; one transaction each (lock, read, update, outbox, commit: five
// round trips) made the registry the slowest step between a device connecting and the platform
// knowing it. The presences that arrive in one event-loop turn are read with one statement,
// decided in the domain in arrival order (several of one device fold), and written with one
// statement that updates every device still at the row version it was read at and inserts the
// written devices' events into the outbox: one commit per batch. A device changed in between
// (a REST update, a reported state) writes nothing and is read and decided again.
import {
  DeviceConnectedV1,
  DeviceDisconnectedV1,
  DeviceUpdatedV1,
  type CloudEvent,
} from '@drover/contracts';
import { eventMessages, type OutboxInsertRow, outboxRows } from '@drover/bus';
import { captureContext } from '@drover/observability';
import { type BatchEntry, createTurnBatcher } from '@drover/service-kit';
import { notFound } from '../domain/errors';
import { foldPresence, type PresenceFold, type PresenceInput } from '../domain/presence';
import * as devices from '../adapters/postgres/device.repository';
import { registryEvent, type RegistryContext } from './registry.context';
import { type TrafficOutcome } from './device-traffic.service';

/** Applies presence messages in batches. */
export interface PresenceBatcher {
  /** Applies one presence; resolves with its outcome once its batch has committed. */
  submit(tenant: string, deviceId: string, input: PresenceInput): Promise<TrafficOutcome>;
}

/** Options of {@link createPresenceBatcher}. */
export interface PresenceBatcherOptions {
  /** Most presences in one batch. */
  max: number;
  /** Batches in flight at once (each holds one pool connection at a time). */
  concurrency: number;
  /** Test hook: runs between a pass's read and its write. */
  beforeWrite?: () => Promise<void>;
}

interface Presence {
  tenant: string;
  deviceId: string;
  input: PresenceInput;
  /** Runs a function in the submitter's context (correlation id, trace). */
  run: <T>(fn: () => T) => T;
}

/** A presence with the callbacks that settle its message's handler. */
interface Item extends Presence {
  resolve: (outcome: TrafficOutcome) => void;
  reject: (err: unknown) => void;
}

/** Passes (read, decide, compare-and-set) over one batch before it is given back. */
const MAX_PASSES = 10;

const ms = (d: Date | null) => (d === null ? null : d.getTime());

/**
 * The outbox rows of one device's applied presences, in order; each presence's events are made
 * in its message's context (correlation id, trace).
 */
function foldOutbox(
  tenant: string,
  deviceId: string,
  items: readonly Item[],
  fold: PresenceFold,
  now: Date,
): OutboxInsertRow[] {
  return fold.applied.flatMap((a) => {
    const item = items[a.index] as Item;
    return item.run(() => {
      const events: CloudEvent<unknown>[] = [];
      if (a.transition !== null) {
        const def = a.transition === 'connected' ? DeviceConnectedV1 : DeviceDisconnectedV1;
        events.push(
          registryEvent(def, tenant, deviceId, {
            device_id: deviceId,
            at: new Date(item.input.tsMs).toISOString(),
            ...(a.firmwareVersion !== null && { firmware_version: a.firmwareVersion }),
          }),
        );
      }
      if (Object.keys(a.changes).length > 0) {
        events.push(
          registryEvent(DeviceUpdatedV1, tenant, deviceId, {
            device_id: deviceId,
            changes: a.changes,
            updated_at: now.toISOString(),
          }),
        );
      }
      return outboxRows(eventMessages(events));
    });
  });
}

/** Builds the batcher over the registry's context. */
export function createPresenceBatcher(
  ctx: RegistryContext,
  opts: PresenceBatcherOptions,
): PresenceBatcher {
  /** One pass over `items`: the devices written settle, those changed meanwhile come back. */
  async function pass(items: Item[]): Promise<Item[]> {
    const byDevice = new Map<string, Item[]>();
    for (const item of items) {
      const key = devices.presenceKey(item.tenant, item.deviceId);
      const list = byDevice.get(key);
      if (list) list.push(item);
      else byDevice.set(key, [item]);
    }
    const keys = [...byDevice.values()].map((l) => l[0] as Item);
    const rows = await devices.findPresenceRows(ctx.db, keys);
    const found = new Map(rows.map((r) => [devices.presenceKey(r.tenant, r.device_id), r]));
    const now = ctx.now();
    const writes: devices.PresenceWrite[] = [];
    const decided = new Map<string, { list: Item[]; outcomes: TrafficOutcome[] }>();
    for (const [key, list] of byDevice) {
      const first = list[0] as Item;
      const row = found.get(key);
      if (row === undefined) {
        for (const item of list)
          item.reject(notFound('device_not_found', `no device ${first.deviceId}`));
        continue;
      }
      if (row.status === 'decommissioned') {
        for (const item of list) item.resolve('decommissioned');
        continue;
      }
      const fold = foldPresence(
        {
          connectivity: row.connectivity,
          lastSeenMs: ms(row.last_seen),
          lastPresenceMs: ms(row.last_presence_ts),
          firmwareVersion: row.firmware_version,
          hardwareModel: row.hardware_model,
        },
        list.map((i) => i.input),
        ctx.coalesceMs,
      );
      if (fold.applied.length === 0) {
        list.forEach((item, i) => item.resolve(fold.outcomes[i] as TrafficOutcome));
        continue;
      }
      const outbox = foldOutbox(first.tenant, first.deviceId, list, fold, now);
      writes.push({
        tenant: first.tenant,
        deviceId: first.deviceId,
        version: row.row_version,
        connectivity: fold.final.connectivity as 'online' | 'offline',
        lastSeen: new Date(fold.final.lastSeenMs as number),
        lastPresence: new Date(fold.final.lastPresenceMs as number),
        firmwareVersion: fold.final.firmwareVersion,
        hardwareModel: fold.final.hardwareModel,
        touched: fold.touched,
        outbox,
      });
      decided.set(key, { list, outcomes: fold.outcomes });
    }
    if (writes.length === 0) return [];
    await opts.beforeWrite?.();
    const written = await devices.writePresenceMany(ctx.db, writes, now);
    const again: Item[] = [];
    const done: { list: Item[]; outcomes: TrafficOutcome[] }[] = [];
    for (const [key, d] of decided) {
      if (written.has(key)) done.push(d);
      else again.push(...d.list);
    }
    if (done.length > 0) {
      // Cache first, then wake the relay (as unitOfWork does): a consumer that reacts to an
      // event by reading the device must not find the old entry still in Redis.
      await ctx.cache.invalidate(
        done.map(({ list }) => {
          const first = list[0] as Item;
          return { tenant: first.tenant, deviceId: first.deviceId };
        }),
      );
      // A last_seen move alone writes no event.
      const events = writes.some(
        (w) => w.outbox.length > 0 && written.has(devices.presenceKey(w.tenant, w.deviceId)),
      );
      if (events) ctx.notifyOutbox();
    }
    for (const { list, outcomes } of done) {
      list.forEach((item, i) => item.resolve(outcomes[i] as TrafficOutcome));
    }
    return again;
  }

  const batcher = createTurnBatcher<Presence, TrafficOutcome>(
    async (entries: BatchEntry<Presence, TrafficOutcome>[]) => {
      let pending: Item[] = entries.map((e) => ({
        ...e.item,
        resolve: e.resolve,
        reject: e.reject,
      }));
      for (let attempt = 1; pending.length > 0; attempt += 1) {
        // Each pass settles the devices nobody changed since it read them; a device changed on
        // every pass by someone else is given back to its consumer (which retries later).
        if (attempt > MAX_PASSES) throw new Error('presence: the devices kept changing');
        pending = await pass(pending);
      }
    },
    opts,
  );

  return {
    submit: (tenant, deviceId, input) =>
      batcher.submit({ tenant, deviceId, input, run: captureContext() }),
  };
}
