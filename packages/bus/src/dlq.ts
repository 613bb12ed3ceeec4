import { dlqSubject } from '@drover/contracts';
import { type Bus } from './connect';
import { type BusMessage } from './message';
import { publish, qualifySubject } from './publish';

/** Payload bytes kept in a DLQ record. */
export const DLQ_MAX_PAYLOAD_BYTES = 64 * 1024;

/** What the DLQ stream holds for a message that could not be handled. */
export interface DlqRecord {
  /** Stream the message came from (as the consumer named it). */
  stream: string;
  /** Durable consumer that gave up. */
  consumer: string;
  /** Original subject. */
  subject: string;
  /** Deliveries made, including the failing one. */
  delivery_count: number;
  /** Why it was dead-lettered: `permanent_error: …` or `max_deliver: …`. */
  reason: string;
  /** DomainError code, or the error's name. */
  error_code: string;
  /** The payload, base64, cut to 64 KiB. */
  payload_base64: string;
  /** True when the payload was cut. */
  payload_truncated: boolean;
  /** Original headers. */
  headers: Record<string, string>;
  /** ISO time of the decision. */
  failed_at: string;
}

/** The DomainError code of `err`, or its name. */
export function errorCode(err: unknown): string {
  const e = err as { code?: unknown; name?: unknown };
  if (typeof e?.code === 'string') return e.code;
  return typeof e?.name === 'string' ? e.name : 'unknown_error';
}

/** Builds and publishes the DLQ record of `msg` (dedup by stream sequence). */
export async function publishDlq(
  bus: Bus,
  stream: string,
  consumer: string,
  msg: BusMessage,
  reason: string,
  err: unknown,
): Promise<DlqRecord> {
  const truncated = msg.data.byteLength > DLQ_MAX_PAYLOAD_BYTES;
  const record: DlqRecord = {
    stream,
    consumer,
    subject: msg.subject,
    delivery_count: msg.deliveryCount,
    reason: reason.slice(0, 2000),
    error_code: errorCode(err),
    payload_base64: Buffer.from(msg.data.subarray(0, DLQ_MAX_PAYLOAD_BYTES)).toString('base64'),
    payload_truncated: truncated,
    headers: msg.headers,
    failed_at: new Date().toISOString(),
  };
  const subject = qualifySubject(bus, dlqSubject(bus.naming, stream, consumer));
  await publish(bus, subject, record, { msgId: `dlq:${stream}:${consumer}:${msg.seq}` });
  return record;
}
