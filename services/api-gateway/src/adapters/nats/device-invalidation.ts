// Keeps the gateway's device read cache honest: every device domain event (from any gateway
// replica or service) drops the device's entry. Core NATS subscription: events published to
// the EVENTS stream are also delivered to plain subscribers, with no consumer state to keep.
import { type Bus } from '@drover/bus';
import { eventFilter, parseEventSubject } from '@drover/contracts';
import { Events } from 'nats';
import { deviceCacheKey, type ReadCache } from '../../domain/read-cache';

/** A running invalidation subscription. */
export interface CacheInvalidation {
  /** Stops listening. */
  stop(): void;
}

/** Subscribes to `iot.evt.*.device.*` and invalidates `cache` per event. */
export function startDeviceInvalidation(bus: Bus, cache: ReadCache<string>): CacheInvalidation {
  const sub = bus.nc.subscribe(eventFilter(bus.naming, { aggregate: 'device' }), {
    callback: (err, msg) => {
      if (err) {
        // The subscription is gone: serve nothing from memory rather than risk stale reads.
        cache.clear();
        bus.logger.warn({ event: 'cache.invalidation_failed', err: err.message }, 'cleared');
        return;
      }
      const parsed = parseEventSubject(bus.naming, msg.subject);
      const deviceId = deviceIdOf(msg.data);
      if (parsed && deviceId) cache.invalidate(deviceCacheKey(parsed.tenant, deviceId));
      else cache.clear();
    },
  });
  // Events published while disconnected were missed: start over after a reconnect.
  let stopped = false;
  void (async () => {
    for await (const status of bus.nc.status()) {
      if (stopped) break;
      if (status.type === Events.Reconnect || status.type === Events.Disconnect) cache.clear();
    }
  })();
  return {
    stop() {
      stopped = true;
      sub.unsubscribe();
    },
  };
}

function deviceIdOf(data: Uint8Array): string | undefined {
  try {
    const event = JSON.parse(new TextDecoder().decode(data)) as { subject?: unknown };
    return typeof event.subject === 'string' ? event.subject : undefined;
  } catch (err) {
    void err; // an unreadable event names no device: the caller clears everything instead
    return undefined;
  }
}
