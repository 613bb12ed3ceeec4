import { headers as natsHeaders, type MsgHdrs } from 'nats';
import { getContext, injectTraceHeaders } from '@drover/observability';

/** Header names the bus reads and writes. */
export const HEADERS = {
  msgId: 'Nats-Msg-Id',
  correlationId: 'Drover-Correlation-Id',
  traceparent: 'traceparent',
  tracestate: 'tracestate',
} as const;

/**
 * Headers for an outgoing message: the current trace context, the current correlation id,
 * then `extra` (which wins, so a relay can replay the headers captured at enqueue time).
 */
export function outgoingHeaders(extra?: Record<string, string>): MsgHdrs {
  const h = natsHeaders();
  injectTraceHeaders((k, v) => h.set(k, v));
  const correlationId = getContext()?.correlationId;
  if (correlationId) h.set(HEADERS.correlationId, correlationId);
  for (const [k, v] of Object.entries(extra ?? {})) h.set(k, v);
  return h;
}

/** The trace and correlation headers of the current context, as a plain object (outbox rows). */
export function captureHeaders(): Record<string, string> {
  const out: Record<string, string> = {};
  injectTraceHeaders((k, v) => {
    out[k] = v;
  });
  const correlationId = getContext()?.correlationId;
  if (correlationId) out[HEADERS.correlationId] = correlationId;
  return out;
}

/** NATS headers as a plain object (first value of each key). */
export function headersToObject(h: MsgHdrs | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!h) return out;
  for (const key of h.keys()) out[key] = h.get(key);
  return out;
}

/** JSON-encodes anything that is not already bytes. */
export function encodePayload(data: unknown): Uint8Array {
  if (data instanceof Uint8Array) return data;
  return new TextEncoder().encode(JSON.stringify(data));
}
