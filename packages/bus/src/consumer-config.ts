import { AckPolicy, DeliverPolicy, nanos, type ConsumerConfig, type ConsumerInfo } from 'nats';
import { type Bus } from './connect';
import { ensureStream, streamConfigs } from './streams';

/** What a durable consumer is made of. */
export interface DurableSpec {
  /** Real (namespaced) stream name. */
  streamName: string;
  /** Logical stream name as the caller gave it (`EVENTS`). */
  stream: string;
  /** Durable name. */
  durable: string;
  /** Server-side filters; empty means the whole stream. */
  serverFilters: string[];
  /** Deliveries before giving up. */
  maxDeliver: number;
  /** How long the server waits for an ack before redelivering. */
  ackWaitMs: number;
  /** Upper bound of unacked deliveries outstanding at the server. */
  maxAckPending: number;
}

/** The consumer config for `spec`. */
export function consumerConfig(spec: DurableSpec): Partial<ConsumerConfig> {
  const cfg: Partial<ConsumerConfig> = {
    durable_name: spec.durable,
    ack_policy: AckPolicy.Explicit,
    deliver_policy: DeliverPolicy.All,
    max_deliver: spec.maxDeliver,
    ack_wait: nanos(spec.ackWaitMs),
    max_ack_pending: spec.maxAckPending,
  };
  if (spec.serverFilters.length === 1) cfg.filter_subject = spec.serverFilters[0];
  else if (spec.serverFilters.length > 1) cfg.filter_subjects = spec.serverFilters;
  return cfg;
}

function notFound(err: unknown, what: 'consumer' | 'stream'): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number } };
  const code = what === 'consumer' ? 10014 : 10059;
  return e.api_error?.err_code === code || (e.message ?? '').includes(`${what} not found`);
}

function differs(want: Partial<ConsumerConfig>, have: ConsumerConfig): boolean {
  const current = have as unknown as Record<string, unknown>;
  return Object.entries(want).some(([k, v]) => JSON.stringify(current[k]) !== JSON.stringify(v));
}

/**
 * Ensures the stream (when it is one of ours, so a NATS that came back empty gets it back)
 * and creates the durable, or updates it when its config drifted.
 */
export async function ensureDurable(bus: Bus, spec: DurableSpec): Promise<ConsumerInfo> {
  const ours = Object.values(streamConfigs(bus.naming, { replicas: bus.replicas })).find(
    (c) => c.name === spec.streamName,
  );
  if (ours) {
    try {
      await bus.jsm.streams.info(spec.streamName);
    } catch (err) {
      if (!notFound(err, 'stream')) throw err;
      // Recreate with default tunables only when missing: an existing stream keeps the
      // limits its setup step chose.
      await ensureStream(bus, ours);
    }
  }
  const want = consumerConfig(spec);
  try {
    const info = await bus.jsm.consumers.info(spec.streamName, spec.durable);
    if (!differs(want, info.config)) return info;
    return await bus.jsm.consumers.update(spec.streamName, spec.durable, want);
  } catch (err) {
    if (!notFound(err, 'consumer')) throw err;
    return bus.jsm.consumers.add(spec.streamName, want);
  }
}
