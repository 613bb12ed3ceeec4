import { type PubAck } from 'nats';
import {
  eventSubjectFor,
  InvalidEventError,
  namespace,
  parseEvent,
  type CloudEvent,
} from '@drover/contracts';
import { type Bus } from './connect';
import { encodePayload, HEADERS, outgoingHeaders } from './headers';

/** Options of {@link publish}. */
export interface PublishOptions {
  /** Dedup id (`Nats-Msg-Id`): the stream drops a repeat within its duplicate window. */
  msgId: string;
  /** Extra headers; they override the context-derived trace and correlation headers. */
  headers?: Record<string, string>;
  /** Ask JetStream to reject the message unless it lands in this stream. */
  expectStream?: string;
}

/**
 * Publishes to JetStream and waits for the stream's ack. `data` is JSON-encoded unless it is
 * already bytes.
 */
export async function publish(
  bus: Bus,
  subject: string,
  data: unknown,
  opts: PublishOptions,
): Promise<PubAck> {
  return bus.js.publish(subject, encodePayload(data), {
    msgID: opts.msgId,
    headers: outgoingHeaders(opts.headers),
    ...(opts.expectStream ? { expect: { streamName: opts.expectStream } } : {}),
  });
}

/** The un-namespaced subject of an event (`iot.evt.<tenant>.<aggregate>.<name>`). */
export function logicalEventSubject(event: CloudEvent<unknown>): string {
  return eventSubjectFor(namespace(''), event);
}

/** Adds the namespace prefix unless the subject already carries it. */
export function qualifySubject(bus: Bus, subject: string): string {
  const ns = bus.naming.ns;
  if (!ns || subject.startsWith(`${ns}.`)) return subject;
  return bus.naming.subject(subject);
}

/** Throws unless `event` is a valid CloudEvent of a registered definition. */
export function assertValidEvent(event: CloudEvent<unknown>): void {
  const parsed = parseEvent(event);
  if (!parsed.ok) {
    throw new InvalidEventError(String(event.type), `${parsed.reason}: ${parsed.detail}`);
  }
}

/**
 * Validates the event against its contract and publishes it on its event subject with the
 * event id as `Nats-Msg-Id`, so a retried publish is absorbed by the stream.
 */
export async function publishEvent(bus: Bus, event: CloudEvent<unknown>): Promise<PubAck> {
  assertValidEvent(event);
  const headers: Record<string, string> = {};
  if (event.correlationid) headers[HEADERS.correlationId] = event.correlationid;
  if (event.traceparent) headers[HEADERS.traceparent] = event.traceparent;
  return publish(bus, eventSubjectFor(bus.naming, event), event, {
    msgId: event.id,
    headers,
  });
}
