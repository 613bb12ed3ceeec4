// The outbox relay: publishes committed outbox rows to JetStream in id order and marks them
// sent. Rows go through the bus's pipeline (core publishes with a reply token, many in flight,
// one socket write per event-loop turn); a batch costs two round trips to Postgres.
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { headers as natsHeaders } from 'nats';
import { poolOf } from '@drover/db';
import { type Bus, type BusLogger } from './connect';
import { captureHeaders, encodePayload, HEADERS } from './headers';
import { qualifySubject } from './publish';
import { type AnyKysely } from './outbox';

// The pg pool behind a `createDb` database (its types without a direct dependency on pg).
type PgPool = NonNullable<ReturnType<typeof poolOf>>;

interface OutboxRow {
  id: string;
  event_id: string;
  subject: string;
  payload: unknown;
  headers: Record<string, string>;
}

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
   * Publishes of one batch awaiting their stream ack at once, at most (default 1: each row
   * waits for the previous row's ack); a sliding window, each ack lets the next row go. Above 1
   * the rows are still sent in id order on the one connection, so the stream stores them in
   * that order, and only the unbroken prefix of acked rows is marked sent; but when a publish
   * in the middle fails, later rows already in flight may be stored ahead of it (the retry of
   * the failed row lands after them). No row is sent after a failure is seen.
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
 * `notify()` calls that come while a batch is in flight fold into one more batch right after
 * it, so batches grow with the load and an idle relay flushes at once.
 */
export function startOutboxRelay(opts: OutboxRelayOptions): OutboxRelay {
  const db = opts.db;
  const logger = opts.logger ?? opts.bus.logger;
  const pollMs = opts.pollMs ?? 250;
  const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 200));
  const maxInFlight = Math.max(1, opts.maxInFlight ?? 1);
  let stopped = false;
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;

  // One statement takes the lock and reads the batch: `l` is evaluated once (a volatile CTE is
  // materialized) and, when another relay holds the lock, the one-time filter returns no row.
  // Constants only (no parameters), so the raw path can send it with `begin` in one string.
  const selectSql = `
    with l as (
      select pg_try_advisory_xact_lock(${OUTBOX_LOCK_CLASS}, hashtext(current_schema())) as locked
    )
    select id, event_id, subject, payload, headers from outbox
    where (select locked from l) and sent_at is null
    order by id
    limit ${batchSize}`;

  // Publishes a batch's rows and runs the test hook: the ids to mark sent and the failure.
  const publishBatch = async (rows: OutboxRow[]): Promise<{ ids: string[]; failure: unknown }> => {
    const { acked, failure } = await publishRows(rows);
    const ids = rows.slice(0, acked).map((r) => r.id);
    if (ids.length > 0) await opts.beforeMarkSent?.(ids);
    return { ids, failure };
  };
  const outcome = (ids: string[], failure: unknown): { sent: number; failed: boolean } => {
    if (failure !== null) {
      logger.warn(
        { event: 'bus.outbox_publish_failed', err: String(failure), sent: ids.length },
        'outbox publish failed; will retry',
      );
    }
    return { sent: ids.length, failed: failure !== null };
  };

  // On a `createDb` database: the pg pool directly, two round trips a batch (`begin` + lock +
  // select in one string, `update` + `commit` in another) and no query builder.
  const pool = poolOf(db as Kysely<unknown>);
  const flushBatchRaw = async (p: PgPool): Promise<{ sent: number; failed: boolean }> => {
    const client = await p.connect();
    let broken: Error | undefined;
    try {
      // Two statements in one string: pg answers with one result each.
      const results = (await client.query(`begin; ${selectSql}`)) as unknown as [
        unknown,
        { rows: OutboxRow[] },
      ];
      const rows = results[1].rows;
      if (rows.length === 0) {
        await client.query('commit');
        return { sent: 0, failed: false };
      }
      const { ids, failure } = await publishBatch(rows);
      if (ids.length > 0) {
        if (!ids.every((id) => /^[0-9]+$/.test(id))) throw new Error('outbox id not a bigint');
        await client.query(
          `update outbox set sent_at = clock_timestamp() where id = any('{${ids.join(',')}}'::bigint[]); commit`,
        );
      } else {
        await client.query('commit');
      }
      return outcome(ids, failure);
    } catch (err) {
      await client.query('rollback').catch((rollbackErr: unknown) => {
        broken = rollbackErr as Error; // the connection is gone: the pool drops it
      });
      throw err;
    } finally {
      client.release(broken);
    }
  };

  // Any other Kysely (e.g. a test's own dialect): begin, lock + select, update, commit.
  const flushBatchKysely = async (): Promise<{ sent: number; failed: boolean }> =>
    db.transaction().execute(async (trx) => {
      const { rows } = await trx.executeQuery<OutboxRow>(CompiledQuery.raw(selectSql));
      if (rows.length === 0) return { sent: 0, failed: false };
      const { ids, failure } = await publishBatch(rows);
      if (ids.length > 0) {
        await sql`
          update outbox set sent_at = clock_timestamp() where id = any(${ids}::bigint[])
        `.execute(trx);
      }
      return outcome(ids, failure);
    });

  const flushBatch = (): Promise<{ sent: number; failed: boolean }> =>
    pool !== undefined ? flushBatchRaw(pool) : flushBatchKysely();

  // Publishes the rows in id order through the bus's pipeline, at most `maxInFlight` awaiting
  // their ack; the first failure stops issuing more. Resolves once every issued publish has
  // settled, with the length of the unbroken prefix of acked rows (a duplicate ack counts).
  const publishRows = (rows: OutboxRow[]): Promise<{ acked: number; failure: unknown }> =>
    new Promise((resolve) => {
      const pipeline = opts.bus.pipeline();
      // The context's trace and correlation headers, as `publish()` adds them; the row's own
      // (captured at enqueue time) win, and `Nats-Msg-Id` is the row's.
      const base = captureHeaders();
      const ok = new Array<boolean>(rows.length).fill(false);
      let failure: unknown = null;
      let issued = 0;
      let inFlight = 0;
      const done = (): void => {
        let acked = 0;
        while (acked < issued && ok[acked]) acked++;
        resolve({ acked, failure });
      };
      const pump = (): void => {
        while (failure === null && inFlight < maxInFlight && issued < rows.length) {
          const k = issued++;
          const row = rows[k] as OutboxRow;
          const h = natsHeaders();
          for (const key in base) h.set(key, base[key] as string);
          for (const key in row.headers) h.set(key, row.headers[key] as string);
          h.set(HEADERS.msgId, row.event_id);
          inFlight++;
          pipeline
            .publishWithHeaders(
              qualifySubject(opts.bus, row.subject),
              encodePayload(row.payload),
              h,
            )
            .then(
              () => {
                ok[k] = true;
              },
              (err: unknown) => {
                failure ??= err;
              },
            )
            .finally(() => {
              inFlight--;
              pump();
              if (inFlight === 0 && (failure !== null || issued === rows.length)) done();
            });
        }
      };
      pump();
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
