// Tells a service's device caches when the registry changed a device: `device.registered`,
// `device.updated`, `device.decommissioned` and `provisioning.completed` as they are published
// (presence events such as device.connected change nothing cached and are not followed). A core
// NATS subscription: events published to the EVENTS stream reach plain subscribers too, and
// there is no consumer state to keep. Missed events cannot be replayed, so when the
// subscription fails, after a reconnect, or for an event that names no device, `onLost` says
// every cached answer must be revalidated. A cache of some fields only (`fields`) is not told
// of `device.updated` events that change none of them.
import { Events, type Subscription } from 'nats';
import { eventFilter, parseEventSubject } from '@drover/contracts';
import { type Bus } from './connect';

/** The events that change a device's cached meta. */
export const DEVICE_CHANGE_EVENTS = [
  ['device', 'registered'],
  ['device', 'updated'],
  ['device', 'decommissioned'],
  ['provisioning', 'completed'],
] as const;

/** One change. */
export interface DeviceChange {
  /** Tenant of the device. */
  tenant: string;
  /** The device. */
  deviceId: string;
  /** `device.registered`, `device.decommissioned`, … */
  event: `${(typeof DEVICE_CHANGE_EVENTS)[number][0]}.${(typeof DEVICE_CHANGE_EVENTS)[number][1]}`;
}

/** Callbacks of {@link watchDeviceChanges}. */
export interface DeviceChangeHandlers {
  /** A device changed: drop or update its entry. */
  onChange(change: DeviceChange): void;
  /** Changes may have been missed (`reason` for the log): revalidate every entry. */
  onLost(reason: string): void;
}

/** A running watch. */
export interface DeviceChangeWatch {
  /** Changes seen (tests and metrics). */
  seen(): number;
  /** Stops listening. */
  stop(): void;
}

/** Options of {@link watchDeviceChanges}. */
export interface DeviceChangeOptions {
  /**
   * The device fields the caller caches (`device.updated` names them in `data.changes`): an
   * update that changes none of them is not passed on. A fleet reporting new firmware or tags
   * (thousands of `device.updated` during a rollout) then does not empty a cache of device
   * types and statuses. An update whose changes cannot be read is passed on. Absent: every
   * update is.
   */
  fields?: readonly string[];
}

interface EventFields {
  subject?: unknown;
  data?: { device_id?: unknown; changes?: unknown } | null;
}

const decoder = new TextDecoder();

/** The device an event names, and the fields it says changed (when it lists them). */
function readEvent(data: Uint8Array): { deviceId: string; changed?: string[] } | undefined {
  let value: EventFields;
  try {
    value = JSON.parse(decoder.decode(data)) as EventFields;
  } catch (err) {
    void err; // an unreadable event names no device: the caller revalidates everything
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const changes = value.data?.changes;
  const changed =
    typeof changes === 'object' && changes !== null && !Array.isArray(changes)
      ? Object.keys(changes)
      : undefined;
  const deviceId =
    typeof value.subject === 'string'
      ? value.subject
      : typeof value.data?.device_id === 'string'
        ? value.data.device_id
        : undefined;
  if (deviceId === undefined) return undefined;
  return changed === undefined ? { deviceId } : { deviceId, changed };
}

/** Subscribes to `iot.evt.*.<aggregate>.<event>` for each of {@link DEVICE_CHANGE_EVENTS}. */
export function watchDeviceChanges(
  bus: Bus,
  handlers: DeviceChangeHandlers,
  options: DeviceChangeOptions = {},
): DeviceChangeWatch {
  const fields = options.fields === undefined ? null : new Set(options.fields);
  let seen = 0;
  let stopped = false;
  const subs: Subscription[] = DEVICE_CHANGE_EVENTS.map(([aggregate, event]) =>
    bus.nc.subscribe(eventFilter(bus.naming, { aggregate, event }), {
      callback: (err, msg) => {
        if (err) {
          handlers.onLost(`subscription failed: ${err.message}`);
          return;
        }
        const parsed = parseEventSubject(bus.naming, msg.subject);
        const read = readEvent(msg.data);
        if (parsed === null || read === undefined) {
          handlers.onLost(`unreadable event on ${msg.subject}`);
          return;
        }
        seen += 1;
        if (
          fields !== null &&
          aggregate === 'device' &&
          event === 'updated' &&
          read.changed !== undefined &&
          !read.changed.some((f) => fields.has(f))
        ) {
          return;
        }
        handlers.onChange({
          tenant: parsed.tenant,
          deviceId: read.deviceId,
          event: `${parsed.aggregate}.${parsed.event}` as DeviceChange['event'],
        });
      },
    }),
  );
  void (async () => {
    for await (const status of bus.nc.status()) {
      if (stopped) break;
      if (status.type === Events.Reconnect) handlers.onLost('reconnected');
    }
  })();
  return {
    seen: () => seen,
    stop() {
      stopped = true;
      for (const sub of subs) sub.unsubscribe();
    },
  };
}
