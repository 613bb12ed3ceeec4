// The registry's `device.decommissioned` events (EVENTS, a durable of its own): the device's
// commands that wait for it to come online are withdrawn (`cancelled`, "device
// decommissioned"), as it never will; they would otherwise wait until they expire. Commands
// already handed over go on to their own end (an answer, or their time-out). The event is
// handled twice: at once, and `recheckMs` later (delivered again by the stream), for a command
// created as the device was decommissioned that committed after the first pass.
import { eventFilter, isEventOf, parseEvent, DeviceDecommissionedV1 } from '@drover/contracts';
import { type Bus, consume, type Consumer } from '@drover/bus';
import { runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type GatewayContext } from '../../service/gateway.context';
import { cancelDeviceCommands } from '../../service/command.service';
import { DECOMMISSIONED_CONSUMER } from './consumer-names';

/** The reason a decommissioned device's waiting commands carry. */
export const DECOMMISSIONED_REASON = 'device decommissioned';

/** Starts the consumer; `stop()` drains its in-flight handlers. */
export async function startDeviceLifecycleConsumer(
  bus: Bus,
  ctx: GatewayContext,
  opts: { recheckMs: number },
): Promise<Consumer> {
  return consume(bus, {
    stream: 'EVENTS',
    durable: DECOMMISSIONED_CONSUMER,
    filterSubjects: [eventFilter(bus.naming, { aggregate: 'device', event: 'decommissioned' })],
    concurrency: 4,
    logger: ctx.logger,
    handler: async (msg) => {
      const parsed = parseEvent(msg.data);
      if (!parsed.ok) throw new ValidationError(parsed.reason, parsed.detail);
      const event = parsed.event;
      if (!isEventOf(event, DeviceDecommissionedV1)) {
        throw new ValidationError('bad_event', `not a device.decommissioned event: ${event.type}`);
      }
      const { tenant } = event;
      const deviceId = event.data.device_id;
      const { cancelled } = await runWithContext({ tenant, deviceId }, () =>
        cancelDeviceCommands(ctx, { tenant, device_id: deviceId, reason: DECOMMISSIONED_REASON }),
      );
      if (cancelled > 0) {
        ctx.logger.info(
          { event: 'commands.decommissioned_withdrawn', tenant, device_id: deviceId, cancelled },
          'waiting commands of a decommissioned device cancelled',
        );
      }
      return msg.deliveryCount === 1 ? { againInMs: opts.recheckMs } : undefined;
    },
  });
}
