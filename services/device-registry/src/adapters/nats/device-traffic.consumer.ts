// DEVICE stream consumers: presence and reported state from the ingress. One durable per kind
// so each is filtered on the server (NATS 2.9 has no multi-filter consumers). Bad messages and
// unknown devices are permanent failures: the bus terms them with a DLQ record.
import {
  busMessageCheckers,
  type Checker,
  deviceFilter,
  formatIssue,
  parseDeviceSubject,
  parseTimestamp,
  type StreamName,
} from '@drover/contracts';
import { type Bus, type BusMessage, consume, type Consumer } from '@drover/bus';
import { type Logger, runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type TSchema, type Static } from '@sinclair/typebox';
import { handleReportedState } from '../../service/device-traffic.service';
import { type PresenceBatcher } from '../../service/presence-batcher';
import { type RegistryContext } from '../../service/registry.context';
import { PRESENCE_CONSUMER, STATE_REPORTED_CONSUMER } from './consumer-names';

/** Options of {@link startDeviceTrafficConsumers}. */
export interface DeviceTrafficOptions {
  /** The bus. */
  bus: Bus;
  /** Use case dependencies. */
  ctx: RegistryContext;
  /** Logger. */
  logger: Logger;
  /** Handlers in flight per consumer. */
  concurrency: number;
  /** Applies presences in batches. */
  presence: PresenceBatcher;
  /** Presence handlers in flight (they hold no connection: their batches do). */
  presenceConcurrency: number;
  /** Called after each handled message (metrics, tests). */
  onOutcome?: (kind: 'presence' | 'state_reported', outcome: string) => void;
}

const DEVICE_STREAM: StreamName = 'DEVICE';

function decode<S extends TSchema>(
  bus: Bus,
  msg: BusMessage,
  checker: Checker<S>,
): { tenant: string; deviceId: string; body: Static<S> } {
  const subject = parseDeviceSubject(bus.naming, msg.subject);
  if (subject === null) throw new ValidationError('bad_subject', `bad subject ${msg.subject}`);
  let body: unknown;
  try {
    body = msg.json();
  } catch (err) {
    throw new ValidationError('bad_json', `payload is not JSON: ${(err as Error).message}`);
  }
  if (!checker.check(body)) {
    const issue = checker.firstError(body);
    throw new ValidationError('schema', issue ? formatIssue(issue) : 'invalid message');
  }
  const b = body as { tenant: string; device_id: string };
  // The subject is what the stream's ACLs and filters saw; a body that disagrees is forged.
  if (b.tenant !== subject.tenant || b.device_id !== subject.deviceId) {
    throw new ValidationError('subject_mismatch', 'body tenant/device_id differ from subject');
  }
  return { tenant: subject.tenant, deviceId: subject.deviceId, body: body as Static<S> };
}

function timestampMs(ts: unknown, receivedAt: string): number {
  const parsed = parseTimestamp(ts);
  if (parsed !== null) return parsed;
  const received = parseTimestamp(receivedAt);
  if (received === null) throw new ValidationError('bad_timestamp', 'no usable timestamp');
  return received;
}

/** Starts both consumers; `stop()` on each drains its in-flight handlers. */
export async function startDeviceTrafficConsumers(opts: DeviceTrafficOptions): Promise<Consumer[]> {
  const { bus, ctx, logger } = opts;
  const presence = await consume(bus, {
    stream: DEVICE_STREAM,
    durable: PRESENCE_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'presence')],
    concurrency: opts.presenceConcurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.PresenceMessage);
      await runWithContext({ tenant, deviceId }, async () => {
        const outcome = await opts.presence.submit(tenant, deviceId, {
          state: body.state,
          // Ordered by the ingress's receipt, as the command gateway does: a last will has no
          // device time (the ingress stamps its own), so comparing it with the device clock of
          // the `online` that follows a quick reboot dropped that `online` for good.
          tsMs: timestampMs(body.received_at, body.received_at),
          ...(body.firmware_version !== undefined && { firmwareVersion: body.firmware_version }),
          ...(body.hardware_model !== undefined && { hardwareModel: body.hardware_model }),
        });
        logger.debug(
          { event: 'registry.presence', device_id: deviceId, state: body.state, outcome },
          'presence handled',
        );
        opts.onOutcome?.('presence', outcome);
      });
    },
  });
  const reported = await consume(bus, {
    stream: DEVICE_STREAM,
    durable: STATE_REPORTED_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'state_reported')],
    concurrency: opts.concurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.StateReportedMessage);
      await runWithContext({ tenant, deviceId }, async () => {
        const outcome = await handleReportedState(ctx, tenant, deviceId, {
          state: body.state,
          tsMs: timestampMs(body.ts, body.received_at),
        });
        logger.debug(
          { event: 'registry.state_reported', device_id: deviceId, outcome },
          'reported state handled',
        );
        opts.onOutcome?.('state_reported', outcome);
      });
    },
  });
  return [presence, reported];
}
