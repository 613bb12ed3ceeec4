// Tells a service's device caches when the registry changed a device: `device.registered`,
// `device.updated`, `device.decommissioned` and `provisioning.completed` as they are published
// (presence events such as device.connected change nothing cached and are not followed). A core
// NATS subscription: events published to the EVENTS stream reach plain subscribers too, and
// there is no consumer state to keep. Missed events cannot be replayed, so when the
// subscription fails, after a reconnect, or for an event that names no device, `onLost` says
// every cached answer must be revalidated.
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

interface EventFields {
  subject?: unknown;
  data?: { device_id?: unknown } | null;
}

const decoder = new TextDecoder();

function deviceOf(data: Uint8Array): string | undefined {
  let value: EventFields;
  try {
    value = JSON.parse(decoder.decode(data)) as EventFields;
  } catch (err) {
    void err; // an unreadable event names no device: the caller revalidates everything
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (typeof value.subject === 'string') return value.subject;
  return typeof value.data?.device_id === 'string' ? value.data.device_id : undefined;
}

/** Subscribes to `iot.evt.*.<aggregate>.<event>` for each of {@link DEVICE_CHANGE_EVENTS}. */
export function watchDeviceChanges(bus: Bus, handlers: DeviceChangeHandlers): DeviceChangeWatch {
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
        const deviceId = deviceOf(msg.data);
        if (parsed === null || deviceId === undefined) {
          handlers.onLost(`unreadable event on ${msg.subject}`);
          return;
        }
        seen += 1;
        handlers.onChange({
          tenant: parsed.tenant,
          deviceId,
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
