// Keeps the ingress' device-meta cache in step with the registry: device and provisioning
// events drop (or, for a decommission, update) the device's entry the moment they are
// published, so a freshly registered device is accepted at once and a decommissioned one is
// refused at once; when events may have been missed every entry is revalidated
// (`watchDeviceChanges` in @drover/bus). Updates of other fields (firmware, tags) are not
// followed: the entry holds the type and status only.
import { type Bus, watchDeviceChanges } from '@drover/bus';
import { DEVICE_META_FIELDS } from '@drover/contracts';
import { type Logger } from '@drover/observability';
import { type DeviceMetaCache } from '../registry/device-meta.cache';

/** A running event subscription. */
export interface DeviceEventsConsumer {
  /** Events applied (tests and metrics). */
  applied(): number;
  /** Stops listening. */
  stop(): void;
}

/** Applies device changes to `cache`. */
export function startDeviceEvents(
  bus: Bus,
  cache: DeviceMetaCache,
  logger: Logger,
): DeviceEventsConsumer {
  const watch = watchDeviceChanges(
    bus,
    {
      onChange: ({ tenant, deviceId, event }) => {
        if (event === 'device.decommissioned') cache.markDecommissioned(tenant, deviceId);
        else cache.invalidate(tenant, deviceId);
      },
      onLost: (reason) => {
        cache.expireAll();
        logger.warn({ event: 'meta_cache.events_lost', reason }, 'entries expired');
      },
    },
    // New firmware or tags leave the type and status the cache holds as they were.
    { fields: DEVICE_META_FIELDS },
  );
  return { applied: () => watch.seen(), stop: () => watch.stop() };
}
