// A tenant's domain events, read from the EVENTS stream with an ordered (ephemeral, unacked)
// consumer: one per SSE client, nothing durable left behind.
import { type Bus } from '@drover/bus';
import { eventFilter } from '@drover/contracts';
import { UnavailableError } from '@drover/service-kit';
import { DeliverPolicy } from 'nats';

/** One event off the stream. */
export interface StreamedEvent {
  /** Stream sequence (the SSE id, so a client can resume with Last-Event-ID). */
  seq: number;
  /** The CloudEvent (JSON). */
  event: Record<string, unknown>;
}

/** An open subscription; iterate it, close it when the client goes away. */
export interface TenantEventSubscription extends AsyncIterable<StreamedEvent> {
  /** Stops the consumer; the iteration then ends. */
  close(): Promise<void>;
}

/** Opens subscriptions to tenants' events. */
export type TenantEventSource = (
  tenant: string,
  opts: { afterSeq?: number },
) => Promise<TenantEventSubscription>;

/** How long the server keeps an ordered consumer whose client vanished without closing it. */
const INACTIVE_THRESHOLD_MS = 30_000;

/** Event subscriptions on the bus's EVENTS stream (`iot.evt.<tenant>.*.*`). */
export function createTenantEventSource(bus: Bus): TenantEventSource {
  const stream = bus.naming.stream('EVENTS');
  return async (tenant, { afterSeq }) => {
    const filterSubjects = eventFilter(bus.naming, { tenant });
    const start =
      afterSeq === undefined
        ? { deliver_policy: DeliverPolicy.New }
        : { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: afterSeq + 1 };
    let consumer;
    let messages;
    try {
      consumer = await bus.js.consumers.get(stream, {
        filterSubjects,
        inactive_threshold: INACTIVE_THRESHOLD_MS,
        ...start,
      });
      // Resolves once the server-side consumer exists: events after this point are delivered.
      messages = await consumer.consume({ max_messages: 256, abort_on_missing_resource: true });
    } catch (err) {
      throw new UnavailableError(
        'events_unavailable',
        'the event stream is unavailable',
        undefined,
        {
          cause: err,
        },
      );
    }
    const iterable = messages;
    const ordered = consumer;
    return {
      async close() {
        await iterable.close();
        // Delete now rather than wait for the inactivity threshold: clients come and go.
        await ordered.delete();
      },
      async *[Symbol.asyncIterator]() {
        for await (const m of iterable) {
          let event: unknown;
          try {
            event = m.json();
          } catch (err) {
            bus.logger.warn(
              { event: 'events.undecodable', seq: m.seq, err: String(err) },
              'skipped',
            );
            continue;
          }
          if (typeof event === 'object' && event !== null) {
            yield { seq: m.seq, event: event as Record<string, unknown> };
          }
        }
      },
    };
  };
}
