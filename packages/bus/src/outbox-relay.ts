import { sql, type Kysely } from 'kysely';
import { type Bus, type BusLogger } from './connect';
import { publish, qualifySubject } from './publish';
import { type AnyKysely, type OutboxDb } from './outbox';

/** Options of {@link startOutboxRelay}. */
export interface OutboxRelayOptions {
  /** The service's database (search_path on its schema, which holds `outbox`). */
  db: AnyKysely;
  /** Where rows are published. */
  bus: Bus;
  /** Logger; defaults to the bus logger. */
  logger?: BusLogger;
  /** Poll interval: the fallback when nobody calls `notify()`. */
  pollMs?: number;
  /** Rows published per transaction. */
  batchSize?: number;
  /**
   * Publishes of one batch awaiting their stream ack at once (default 1: each row waits for
   * the previous row's ack). Above 1 the rows are still sent in id order on the one connection,
   * so the stream stores them in that order, and only the unbroken prefix of acked rows is
   * marked sent; but when a publish in the middle fails, later rows of the same window may
   * already be stored ahead of it (the retry of the failed row lands after them).
   */
  maxInFlight?: number;
  /** Test hook, runs after a batch is published and before it is marked sent. */
  beforeMarkSent?: (ids: string[]) => Promise<void> | void;
}

/** A running outbox relay. */
export interface OutboxRelay {
  /** Nudges the relay to flush now (call after committing a transaction with messages). */
  notify(): void;
  /** Stops polling and waits for the flush in progress. */
  stop(): Promise<void>;
  /** Publishes one batch now; returns how many rows were sent (0 if another relay holds the lock). */
  flushOnce(): Promise<number>;
}

// First key of the two-int advisory lock: "drover outbox", the second is the schema's hash.
export const OUTBOX_LOCK_CLASS = 0x0d0b0c5;

/**
 * Publishes unsent outbox rows in id order and marks them sent, inside a transaction that
 * holds a transaction-scoped advisory lock: one relay at a time per schema, and the lock goes
 * away with the transaction if the process dies. A crash after publish and before commit
 * republishes the rows; the stream's duplicate window absorbs them by `Nats-Msg-Id`.
 */
export function startOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const db = opts.db as Kysely<OutboxDb>;
  const logger = opts.logger ?? opts.bus.logger;
  const pollMs = opts.pollMs ?? 250;
  const batchSize = opts.batchSize ?? 200;
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
  let stopped = false;
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;

  const flushBatch = async (): Promise<{ sent: number; failed: boolean }> =>
    db.transaction().execute(async (trx) => {
      const lock = await sql<{ locked: boolean }>`
        select pg_try_advisory_xact_lock(${OUTBOX_LOCK_CLASS}, hashtext(current_schema())) as locked
      `.execute(trx);
      if (!lock.rows[0]?.locked) return { sent: 0, failed: false };
      const rows = await trx
        .selectFrom('outbox')
        .select(['id', 'event_id', 'subject', 'payload', 'headers'])
        .where('sent_at', 'is', null)
        .orderBy('id')
        .limit(batchSize)
        .execute();
      const sent: string[] = [];
      let failure: unknown = null;
      // Windows of `maxInFlight` publishes sent back to back; a window's acks are awaited
      // together, and publishing stops at the first failure to keep id order.
      for (let i = 0; i < rows.length && failure === null; i += maxInFlight) {
        const window = rows.slice(i, i + maxInFlight);
        const acks = await Promise.allSettled(
          window.map(async (row) =>
            publish(opts.bus, qualifySubject(opts.bus, row.subject), row.payload, {
              msgId: row.event_id,
              headers: row.headers,
            }),
          ),
        );
        for (const [k, ack] of acks.entries()) {
          if (ack.status === 'rejected') {
            failure = ack.reason;
            break;
          }
          sent.push(window[k]!.id);
        }
      }
      if (sent.length > 0) {
        await opts.beforeMarkSent?.(sent);
        await trx
          .updateTable('outbox')
          .set({ sent_at: new Date() })
          .where('id', 'in', sent)
          .execute();
      }
      if (failure) {
        logger.warn(
          { event: 'bus.outbox_publish_failed', err: String(failure), sent: sent.length },
          'outbox publish failed; will retry',
        );
      }
      return { sent: sent.length, failed: failure !== null };
    });

  const flushOnce = async (): Promise<number> => {
    if (running) {
      again = true;
      return running;
    }
    running = (async () => {
      let total = 0;
      try {
        for (;;) {
          again = false;
          const { sent, failed } = await flushBatch();
          total += sent;
          if (failed || (sent < batchSize && !again)) return total;
        }
      } finally {
        running = null;
      }
    })();
    return running;
  };

  let failures = 0;
  const tick = (): void => {
    timer = null;
    if (stopped) return;
    flushOnce()
      .then(() => {
        failures = 0;
      })
      .catch((err: unknown) => {
        failures++;
        logger.error({ event: 'bus.outbox_flush_failed', err: String(err) }, 'outbox flush failed');
      })
      .finally(() => {
        // While the database or NATS is down, back off instead of logging every poll.
        const wait = failures === 0 ? pollMs : Math.min(pollMs * 2 ** failures, 5000);
        if (!stopped && !timer) timer = setTimeout(tick, wait);
      });
  };
  timer = setTimeout(tick, 0);

  return {
    notify: () => {
      if (stopped) return;
      if (running) {
        again = true;
        return;
      }
      if (timer) clearTimeout(timer);
      timer = setTimeout(tick, 0);
    },
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (running) await running.catch(() => 0);
    },
    flushOnce,
  };
}
