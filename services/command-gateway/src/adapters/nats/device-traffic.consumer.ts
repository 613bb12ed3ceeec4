// DEVICE stream consumers (answers, broker acks, presence) and the DLQ consumer for commands
// the ingress gave up on. One durable each, filtered on the server. Answers and broker acks go
// through one shared ReportBatcher, presence through a PresenceBatcher (each handler awaits its
// own message's outcome). A bad message or a
// report about an unknown command is a permanent failure: the bus terms it with a DLQ record.
import {
  busMessageCheckers,
  type Checker,
  deviceFilter,
  dlqSubject,
  formatIssue,
  parseCommandSubject,
  parseDeviceSubject,
  parseTimestamp,
} from '@drover/contracts';
import { type Bus, type BusMessage, consume, type Consumer } from '@drover/bus';
import { runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type Static, type TSchema } from '@sinclair/typebox';
import { type GatewayContext } from '../../service/gateway.context';
import { type ReportBatcher } from '../../service/report-batcher';
import {
  handleAnswer,
  handleDeadLetter,
  handleSent,
  type PresenceBatcher,
} from '../../service/traffic.service';
import {
  DLQ_CONSUMER,
  INGRESS_COMMANDS_DURABLE,
  PRESENCE_CONSUMER,
  RESULTS_CONSUMER,
  SENT_CONSUMER,
} from './consumer-names';

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
  if (b.tenant !== subject.tenant || b.device_id !== subject.deviceId) {
    throw new ValidationError('subject_mismatch', 'body tenant/device_id differ from subject');
  }
  return { tenant: subject.tenant, deviceId: subject.deviceId, body: body as Static<S> };
}

function time(value: unknown): Date {
  const t = parseTimestamp(value);
  if (t === null) throw new ValidationError('bad_timestamp', 'no usable timestamp');
  return new Date(t);
}

/** Handlers per consumer. */
export interface TrafficConcurrency {
  /** The DLQ consumer. */
  concurrency: number;
  /** The presence consumer (its handlers wait for a batch, holding nothing). */
  presenceConcurrency: number;
  /** `cmd_res` and `cmd_sent` consumers (their handlers wait for a batch, holding nothing). */
  reportConcurrency: number;
}

/** Starts every consumer; `stop()` on each drains its in-flight handlers. */
export async function startTrafficConsumers(
  bus: Bus,
  ctx: GatewayContext,
  reports: ReportBatcher,
  presences: PresenceBatcher,
  { concurrency, presenceConcurrency, reportConcurrency }: TrafficConcurrency,
): Promise<Consumer[]> {
  const { logger } = ctx;
  const results = await consume(bus, {
    stream: 'DEVICE',
    durable: RESULTS_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'cmd_res')],
    concurrency: reportConcurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.CommandResultMessage);
      // An answer that carries the broker's ack (the ingress held it for the answer) is the
      // `cmd_sent` report and the answer, in that order: both are submitted in this turn and
      // go into one batch.
      const sent =
        body.sent_at === undefined
          ? null
          : handleSent(ctx, reports, {
              tenant,
              deviceId,
              cmdId: body.cmd_id,
              sentAt: time(body.sent_at),
            });
      const answer = runWithContext({ tenant, deviceId }, () =>
        handleAnswer(ctx, reports, {
          tenant,
          deviceId,
          cmdId: body.cmd_id,
          status: body.status,
          ...(body.result !== undefined && { result: body.result }),
          ...(body.error !== undefined && { error: body.error }),
        }),
      );
      // The answer's failure is the message's; the ack's only when the answer went through.
      const [ack, done] = await Promise.allSettled([sent, answer]);
      if (done.status === 'rejected') throw done.reason;
      if (ack.status === 'rejected') throw ack.reason;
    },
  });
  const sent = await consume(bus, {
    stream: 'DEVICE',
    durable: SENT_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'cmd_sent')],
    concurrency: reportConcurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.CommandSentMessage);
      await handleSent(ctx, reports, {
        tenant,
        deviceId,
        cmdId: body.cmd_id,
        sentAt: time(body.sent_at),
      });
    },
  });
  const presence = await consume(bus, {
    stream: 'DEVICE',
    durable: PRESENCE_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'presence')],
    concurrency: presenceConcurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.PresenceMessage);
      // Ordered by the ingress's receipt: a last will carries the time of the connect it was
      // registered at, which is older than the `online` that followed it.
      await presences.submit({
        tenant,
        deviceId,
        online: body.state === 'online',
        ts: time(body.received_at),
      });
    },
  });
  const dlq = await consume(bus, {
    stream: 'DLQ',
    durable: DLQ_CONSUMER,
    filterSubjects: [dlqSubject(bus.naming, 'COMMANDS', INGRESS_COMMANDS_DURABLE)],
    concurrency,
    logger,
    handler: async (msg) => {
      const record = msg.json<{ subject: string; reason: string; payload_base64: string }>();
      const address = parseCommandSubject(record.subject);
      let cmdId: unknown;
      try {
        cmdId = (
          JSON.parse(Buffer.from(record.payload_base64, 'base64').toString('utf8')) as {
            msg_id?: unknown;
          }
        ).msg_id;
      } catch (err) {
        throw new ValidationError('bad_dlq_record', `not a command: ${(err as Error).message}`);
      }
      if (address === null || typeof cmdId !== 'string') {
        throw new ValidationError('bad_dlq_record', 'DLQ record names no command');
      }
      await handleDeadLetter(ctx, { ...address, cmdId, reason: record.reason });
    },
  });
  return [results, sent, presence, dlq];
}
