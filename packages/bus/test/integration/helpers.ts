import { createEvent, DeviceRegisteredV1 } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import { type BusMessage } from '../../src';

/** A silent logger for tests (TEST_LOG_LEVEL=debug to see the bus talk). */
export const testLogger = createLogger({
  service: 'bus-test',
  level: process.env.TEST_LOG_LEVEL ?? 'silent',
});

/** Collects handled messages so tests can wait on them. */
export function collector() {
  const seen: BusMessage[] = [];
  return {
    seen,
    handler: async (m: BusMessage) => {
      seen.push(m);
    },
  };
}

/** A valid device.registered event. */
export function registeredEvent(tenant: string, deviceId: string, correlationId?: string) {
  return createEvent(DeviceRegisteredV1, {
    tenant,
    source: 'bus-test',
    subject: deviceId,
    correlationId,
    data: {
      device_id: deviceId,
      tenant,
      device_type: 'sensor',
      hardware_id_hash: 'abc123',
      tags: [],
      attributes: {},
      registered_at: new Date().toISOString(),
    },
  });
}
