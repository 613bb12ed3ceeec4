// EVENTS consumer of `provisioning.completed`: provisioned devices appear in the registry.
import { eventFilter, parseEvent, ProvisioningCompletedV1 } from '@drover/contracts';
import { type Bus, consume, type Consumer } from '@drover/bus';
import { type Logger, runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type Static } from '@sinclair/typebox';
import { registerProvisionedDevice } from '../../service/provisioned-device.service';
import { type RegistryContext } from '../../service/registry.context';
import { PROVISIONING_CONSUMER } from './consumer-names';

/** Starts the consumer; `stop()` drains it. */
export function startProvisioningConsumer(opts: {
  bus: Bus;
  ctx: RegistryContext;
  logger: Logger;
  concurrency: number;
}): Promise<Consumer> {
  return consume(opts.bus, {
    stream: 'EVENTS',
    durable: PROVISIONING_CONSUMER,
    filterSubjects: [
      eventFilter(opts.bus.naming, { aggregate: 'provisioning', event: 'completed' }),
    ],
    concurrency: opts.concurrency,
    logger: opts.logger,
    handler: async (msg) => {
      const parsed = parseEvent(msg.json());
      if (!parsed.ok) throw new ValidationError('bad_event', parsed.detail);
      // Another version of the event is not this consumer's to read.
      if (parsed.event.type !== ProvisioningCompletedV1.type) return;
      const data = parsed.event.data as Static<(typeof ProvisioningCompletedV1)['schema']>;
      await runWithContext({ tenant: data.tenant, deviceId: data.device_id }, () =>
        registerProvisionedDevice(opts.ctx, data),
      );
    },
  });
}
