// DEVICE and EVENTS consumers: renewal CSRs, presence, decommissioning. One durable each, so
// the server filters (NATS 2.9 has no multi-filter consumers). Malformed messages are permanent
// failures: the bus terms them with a DLQ record.
import {
  busMessageCheckers,
  type CertRenewMessage,
  type Checker,
  DeviceDecommissionedV1,
  deviceFilter,
  eventFilter,
  formatIssue,
  parseDeviceSubject,
  parseEvent,
  parseTimestamp,
} from '@drover/contracts';
import { type Bus, type BusMessage, consume, type Consumer } from '@drover/bus';
import { type Logger, runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type TSchema, type Static } from '@sinclair/typebox';
import { handleDecommissioned } from '../../service/certificate.service';
import { handlePresence, handleRenewal } from '../../service/device-traffic.service';
import { type ProvisioningContext } from '../../service/provisioning.context';
import { CERT_RENEW_CONSUMER, DECOMMISSIONED_CONSUMER, PRESENCE_CONSUMER } from './consumer-names';

function decode<S extends TSchema>(bus: Bus, msg: BusMessage, checker: Checker<S>): Static<S> {
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
  // The subject is what the stream's filters saw; a body that disagrees is forged.
  if (b.tenant !== subject.tenant || b.device_id !== subject.deviceId) {
    throw new ValidationError('subject_mismatch', 'body tenant/device_id differ from subject');
  }
  return body as Static<S>;
}

/** Starts the three consumers; `stop()` on each drains its in-flight handlers. */
export async function startProvisioningConsumers(opts: {
  bus: Bus;
  ctx: ProvisioningContext;
  logger: Logger;
  concurrency: number;
}): Promise<Consumer[]> {
  const { bus, ctx, logger, concurrency } = opts;
  const renew = await consume(bus, {
    stream: 'DEVICE',
    durable: CERT_RENEW_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'cert_renew')],
    concurrency,
    logger,
    handler: async (msg) => {
      const body: CertRenewMessage = decode(bus, msg, busMessageCheckers.CertRenewMessage);
      await runWithContext({ tenant: body.tenant, deviceId: body.device_id }, () =>
        handleRenewal(ctx, body),
      );
    },
  });
  const presence = await consume(bus, {
    stream: 'DEVICE',
    durable: PRESENCE_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'presence')],
    concurrency,
    logger,
    handler: async (msg) => {
      const body = decode(bus, msg, busMessageCheckers.PresenceMessage);
      const at = parseTimestamp(body.ts) ?? parseTimestamp(body.received_at);
      if (at === null) throw new ValidationError('bad_timestamp', 'no usable timestamp');
      // Tolerant reader: a broker/ingress that knows the certificate adds `cert_serial`.
      const certSerial = (body as { cert_serial?: unknown }).cert_serial;
      await runWithContext({ tenant: body.tenant, deviceId: body.device_id }, () =>
        handlePresence(
          ctx,
          {
            tenant: body.tenant,
            device_id: body.device_id,
            state: body.state,
            ...(typeof certSerial === 'string' && { cert_serial: certSerial.toLowerCase() }),
          },
          at,
        ),
      );
    },
  });
  const decommissioned = await consume(bus, {
    stream: 'EVENTS',
    durable: DECOMMISSIONED_CONSUMER,
    filterSubjects: [eventFilter(bus.naming, { aggregate: 'device', event: 'decommissioned' })],
    concurrency,
    logger,
    handler: async (msg) => {
      const parsed = parseEvent(msg.json());
      if (!parsed.ok) throw new ValidationError('bad_event', parsed.detail);
      // Another version of the event: not ours to interpret.
      if (parsed.event.type !== DeviceDecommissionedV1.type) return;
      const { tenant } = parsed.event;
      const deviceId = (parsed.event.data as { device_id: string }).device_id;
      await runWithContext({ tenant, deviceId }, () => handleDecommissioned(ctx, tenant, deviceId));
    },
  });
  return [renew, presence, decommissioned];
}
