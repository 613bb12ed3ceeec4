// Keeps the ingress' device-meta cache in step with the registry: device and provisioning
// events drop (or, for a decommission, update) the device's entry the moment they are
// published, so a freshly registered device is accepted at once and a decommissioned one is
// refused at once. A core NATS subscription: events published to the EVENTS stream reach plain
// subscribers too, and there is no consumer state to keep. Events missed while disconnected
// cannot be replayed, so after a reconnect every entry is revalidated.
import { type Bus } from '@drover/bus';
import { eventFilter, parseEventSubject } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { Events, type Subscription } from 'nats';
import { type DeviceMetaCache } from '../registry/device-meta.cache';

/** A running event subscription. */
export interface DeviceEventsConsumer {
  /** Events applied (tests and metrics). */
  applied(): number;
  /** Stops listening. */
  stop(): void;
}

/** The events that change what the ingress checks (presence events such as device.connected
 * do not: they would only cost lookups). */
const APPLIED_EVENTS: [string, string][] = [
  ['device', 'registered'],
  ['device', 'updated'],
  ['device', 'decommissioned'],
  ['provisioning', 'completed'],
];

interface EventFields {
  subject?: unknown;
  data?: { device_id?: unknown } | null;
}

/** Subscribes to `iot.evt.*.<aggregate>.<event>` for each of `APPLIED_EVENTS`. */
export function startDeviceEvents(
  bus: Bus,
  cache: DeviceMetaCache,
  logger: Logger,
): DeviceEventsConsumer {
  let applied = 0;
  let stopped = false;
  const onEvent = (err: Error | null, subject: string, data: Uint8Array) => {
    if (err) {
      // The subscription is gone: nothing tells us about changes any more.
      cache.expireAll();
      logger.warn({ event: 'meta_cache.events_failed', err: err.message }, 'entries expired');
      return;
    }
    const parsed = parseEventSubject(bus.naming, subject);
    const fields = readEvent(data);
    const deviceId =
      typeof fields?.subject === 'string'
        ? fields.subject
        : typeof fields?.data?.device_id === 'string'
          ? fields.data.device_id
          : undefined;
    if (!parsed || deviceId === undefined) {
      // Cannot tell which device changed: revalidate everything rather than trust the cache.
      cache.expireAll();
      logger.warn({ event: 'meta_cache.unreadable_event', subject }, 'entries expired');
      return;
    }
    applied += 1;
    if (parsed.aggregate === 'device' && parsed.event === 'decommissioned') {
      cache.markDecommissioned(parsed.tenant, deviceId);
    } else {
      cache.invalidate(parsed.tenant, deviceId);
    }
  };
  const subs: Subscription[] = APPLIED_EVENTS.map(([aggregate, event]) =>
    eventFilter(bus.naming, { aggregate, event }),
  ).map((filter) =>
    bus.nc.subscribe(filter, { callback: (err, msg) => onEvent(err, msg.subject, msg.data) }),
  );
  void (async () => {
    for await (const status of bus.nc.status()) {
      if (stopped) break;
      if (status.type === Events.Reconnect) cache.expireAll();
    }
  })();
  return {
    applied: () => applied,
    stop() {
      stopped = true;
      for (const sub of subs) sub.unsubscribe();
    },
  };
}

const decoder = new TextDecoder();

function readEvent(data: Uint8Array): EventFields | undefined {
  try {
    const value: unknown = JSON.parse(decoder.decode(data));
    return typeof value === 'object' && value !== null ? (value as EventFields) : undefined;
  } catch (err) {
    void err; // an unreadable event names no device: the caller expires every entry instead
    return undefined;
  }
}
