import { type JsMsg } from 'nats';
import { HEADERS, headersToObject } from './headers';

/** One delivery handed to a consume handler. */
export interface BusMessage {
  /** The (namespaced) subject the message was published on. */
  subject: string;
  /** The raw payload. */
  data: Uint8Array;
  /** Parses the payload as JSON. */
  json<T = unknown>(): T;
  /** Message headers, first value per key. */
  headers: Record<string, string>;
  /** How many times this message has been delivered to this consumer (1 on the first). */
  deliveryCount: number;
  /** Stream sequence number. */
  seq: number;
  /** The publisher's dedup id (`Nats-Msg-Id`), if any. */
  msgId: string | undefined;
  /** The underlying JetStream message, for the rare case that needs it. */
  raw: JsMsg;
}

/** Wraps a JetStream message as a {@link BusMessage}. */
export function toBusMessage(m: JsMsg): BusMessage {
  const headers = headersToObject(m.headers);
  return {
    subject: m.subject,
    data: m.data,
    json: <T>() => JSON.parse(new TextDecoder().decode(m.data)) as T,
    headers,
    deliveryCount: m.info.deliveryCount,
    seq: m.seq,
    msgId: headers[HEADERS.msgId],
    raw: m,
  };
}

/** NATS subject matching with `*` (one token) and `>` (the rest). */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length) return false;
    if (p[i] !== '*' && p[i] !== s[i]) return false;
  }
  return p.length === s.length;
}
