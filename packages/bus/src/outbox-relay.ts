// The outbox relay: publishes committed outbox rows to JetStream in id order and marks them
// sent. Rows go through the bus's pipeline (core publishes with a reply token, many in flight,
// one socket write per event-loop turn); a batch costs two round trips to Postgres. A writer on
// a latency-critical path can publish its own rows right after its commit
// (`publishAfterCommit`); the relay then only sweeps what such a writer did not publish.
import { CompiledQuery, sql, type Kysely } from 'kysely';
import { headers as natsHeaders } from 'nats';
import { poolOf } from '@drover/db';
import { type Bus, type BusLogger } from './connect';
import { captureHeaders, encodePayload, HEADERS } from './headers';
import { qualifySubject } from './publish';
import { type AnyKysely, type OutboxEntry, isOutboxBatch, parseOutboxBatch } from './outbox';

// The pg pool behind a `createDb` database (its types without a direct dependency on pg).
type PgPool = NonNullable<ReturnType<typeof poolOf>>;

/** What one relay pass did. */
interface Pass {
  /** Rows read (claimed ones included): fewer than a batch means the end of the outbox. */
  read: number;
  /** Rows read that no eager writer had claimed. */
  unclaimed: number;
  /** Unclaimed rows were left for a claimed row before them (eager publishing off). */
  blocked: boolean;
  /** Rows published and marked sent. */
  sent: number;
  /** A publish failed. */
  failed: boolean;
}

/** What a pass's publish did: the ids to mark sent, the failure, and the claims it met. */
interface Published {
  ids: string[];
  failure: unknown;
  unclaimed: number;
  blocked: boolean;
}

interface OutboxRow {
  id: string;
  event_id: string;
  subject: string | null;
  payload: unknown;
  headers: Record<string, string>;
  /** A batch row's messages (only read with `batches`). */
  batch?: string | null;
  /** With `batches`: the rows the pass looked at, before the byte cap cut the batch. */
  seen?: string;
}

/** One message to publish: a row of one message, or one message of a batch row. */
interface RowMessage {
  subject: string;
  msgId: string;
  payload: unknown;
  headers: Record<string, string>;
}

/** The messages a row stands for, in order. */
const rowMessages = (row: OutboxRow): RowMessage[] =>
  row.batch !== null && row.batch !== undefined
    ? parseOutboxBatch(row.batch).map((m) => ({
        subject: m.s,
        msgId: m.id,
        payload: m.p,
        headers: m.h,
      }))
    : [
        {
          subject: row.subject as string,
          msgId: row.event_id,
          payload: row.payload,
          headers: row.headers,
        },
      ];

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
   * waits for the previous row's ack); a sliding window, each ack lets the next message go.
   * Above 1, at most one message per order key (`orderKey`) is in flight: a message waits
   * while an earlier one of its key awaits its ack, and messages of other keys go past it. So
   * when a publish fails, no later message of its key has been sent, and the retry keeps the
   * key's order; messages of other keys may be stored ahead of it. Once a publish has failed,
   * only messages before it are still sent, and only the unbroken prefix of acked rows is marked
   * sent (the rest is published again, as duplicates the stream drops).
   */
  maxInFlight?: number;
  /**
   * The unit whose order the relay keeps when `maxInFlight` is above 1 (see there). Default:
   * the CloudEvents `subject` of the payload (the aggregate: a device, a command's device),
   * else the NATS subject.
   */
  orderKey?: (subject: string, payload: unknown) => string;
  /** Test hook, runs after a batch is published and before it is marked sent. */
  beforeMarkSent?: (ids: string[]) => Promise<void> | void;
  /**
   * How long sent rows are kept (default one hour; they let a retried use case find its
   * message by id, and serve diagnostics); older sent rows are deleted. 0 keeps them forever.
   */
  retentionMs?: number;
  /** How often old sent rows are pruned (default one minute), `pruneBatch` rows a statement. */
  pruneEveryMs?: number;
  /** Rows deleted per prune statement (default 5000). */
  pruneBatch?: number;
  /** How long eagerly published rows wait to be marked sent together (default 50 ms). */
  markDelayMs?: number;
  /**
   * Delete rows once their publish is acked instead of marking them sent (default false). A
   * delete writes a few bytes of WAL where marking writes a new version of the whole row and its
   * index entries, and nothing is left to prune. Only for a service whose use cases never rely
   * on finding a sent row by its event id (`on conflict (event_id)` of a retried write); the
   * stream's duplicate window still drops a republished row.
   */
  deleteSent?: boolean;
  /**
   * The outbox may hold batch rows (it has the `batch` column of {@link outboxBatchMigration}):
   * a pass reads the column and publishes a batch row's messages in order (default false).
   */
  batches?: boolean;
  /**
   * With `batches`: a pass reads rows up to about this many bytes of batch text (default 8 MiB;
   * always at least one row), so a backlog of large batch rows never has to fit in memory at
   * once.
   */
  batchBytes?: number;
}

/** A running outbox relay. */
export interface OutboxRelay {
  /** Nudges the relay to flush now (call after committing a transaction with messages). */
  notify(): void;
  /** Stops polling and waits for the flush in progress. */
  stop(): Promise<void>;
  /** Publishes one batch now; returns how many rows were sent (0 if another relay holds the lock). */
  flushOnce(): Promise<number>;
  /**
   * Runs `write` (a statement or transaction that inserts the outbox rows `rows`, in that order)
   * and, once it has committed, publishes at once the rows `written` picks from its result (the
   * ones it really inserted), in order, without waiting for the relay's next pass; they are
   * marked sent after their acks, together, in one statement every `markDelayMs`. The relay's own passes
   * leave claimed rows alone from before `write` runs until they are marked (or handed back).
   * Resolves with `write`'s result as soon as the publishes are issued (not acked).
   *
   * Order: the rows of calls made one after another are published in call order on the bus's
   * one pipeline, so the stream stores them in that order. When an eager publish fails, its rows
   * go back to the relay, and the relay publishes everything (eager calls only write and notify;
   * a call whose write was under way hands its rows back once it committed) until one of its
   * passes finds nothing left; meanwhile a pass publishes no row past one still claimed. Rows of
   * one aggregate never overtake a failed one that way, except those already in flight when the
   * failure was seen (as with `maxInFlight`). A row published twice (a pass that read it just
   * before its mark committed, a crash before the mark) is a duplicate the stream drops by
   * `Nats-Msg-Id`.
   *
   * A batch row (`outboxBatch`) is one row for many messages: `written` may give it
   * back with fewer messages (those of the rows the statement really wrote), same `event_id`;
   * with none, it was not written.
   * It is marked once all its messages are acked; when one fails, the relay publishes all of
   * them again (the ones already stored are duplicates the stream drops).
   */
  publishAfterCommit<T>(
    rows: OutboxEntry[],
    write: () => Promise<T>,
    written: (result: T) => OutboxEntry[],
  ): Promise<T>;
  /** Eager-publish counters (tests, metrics). */
  readonly eagerStats: EagerStats;
  /** Deletes sent rows older than the retention now; returns how many (tests, operators). */
  pruneOnce(): Promise<number>;
}

/** Counters of `publishAfterCommit`. */
export interface EagerStats {
  /** Messages published eagerly and acked (a batch row's each). */
  published: number;
  /** Rows whose eager publish failed (handed to the relay; a batch row once). */
  failed: number;
  /** Calls that found eager publishing off (after a failure) and left their rows to the relay. */
  deferred: number;
  /** Mark statements run. */
  marks: number;
  /** Rows a relay pass skipped because an eager writer had claimed them. */
  skipped: number;
}

/**
 * The default order key: a CloudEvent's `subject` (what the event is about), else the NATS
 * subject.
 */
const cloudEventOrderKey = (subject: string, payload: unknown): string => {
  const about =
    typeof payload === 'object' && payload !== null
      ? (payload as { subject?: unknown }).subject
      : undefined;
  return typeof about === 'string' ? `ce:${about}` : subject;
};

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
  const orderKey = opts.orderKey ?? cloudEventOrderKey;
  // How acked rows leave the unsent set: deleted, or marked sent and pruned after the retention.
  const markByIds = opts.deleteSent
    ? 'delete from outbox where id = any'
    : 'update outbox set sent_at = clock_timestamp() where id = any';
  let stopped = false;
  let running: Promise<number> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | null = null;
  const eagerStats: EagerStats = { published: 0, failed: 0, deferred: 0, marks: 0, skipped: 0 };
  // Rows an eager writer claimed (by event id, with a count: the same id may be claimed twice by
  // racing writers, of which at most one inserts it); a relay pass does not publish them.
  const claimed = new Map<string, number>();
  // Off after an eager publish failed, until a relay pass that started after that finds nothing
  // left to publish; `eagerOffs` counts the failures.
  let eagerOn = true;
  let eagerOffs = 0;
  // Calls made while eager publishing was off: writes in progress and writes finished.
  const deferred = { writing: 0, done: 0 };

  // One statement takes the lock and reads the batch: `l` is evaluated once (a volatile CTE is
  // materialized) and, when another relay holds the lock, the one-time filter returns no row.
  // Constants only (no parameters), so the raw path can send it with `begin` in one string.
  const lockCte = `
    with l as (
      select pg_try_advisory_xact_lock(${OUTBOX_LOCK_CLASS}, hashtext(current_schema())) as locked
    )`;
  const batchBytes = Math.max(1, Math.floor(opts.batchBytes ?? 8 * 1024 * 1024));
  // With batch rows, the rows are cut where the batch text read so far passes `batchBytes`
  // (`octet_length` of a stored value reads its size, not the value); `seen` tells the pass how
  // many rows it looked at, and a cut batch counts as a full one: it is not the end of the
  // outbox.
  const selectSql = opts.batches
    ? `${lockCte}, r as (
      select id, event_id, subject, payload, headers, batch from outbox
      where (select locked from l) and sent_at is null
      order by id
      limit ${batchSize}
    ), w as (
      select r.*,
        sum(coalesce(octet_length(batch), 0)) over (order by id)
          - coalesce(octet_length(batch), 0) as before,
        count(*) over () as seen
      from r
    )
    select id, event_id, subject, payload, headers, batch, seen from w
    where before < ${batchBytes}
    order by id`
    : `${lockCte}
    select id, event_id, subject, payload, headers from outbox
    where (select locked from l) and sent_at is null
    order by id
    limit ${batchSize}`;
  /** How many rows a pass read, for the decision whether to go on (a cut batch: a full one). */
  const seenOf = (rows: OutboxRow[]): number =>
    rows[0]?.seen !== undefined && rows.length < Number(rows[0].seen) ? batchSize : rows.length;

  // Publishes a batch's rows and runs the test hook: the ids to mark sent and the failure.
  const publishBatch = async (read: OutboxRow[]): Promise<Published> => {
    let rows = claimed.size === 0 ? read : read.filter((r) => !claimed.has(r.event_id));
    eagerStats.skipped += read.length - rows.length;
    const unclaimed = rows.length;
    if (!eagerOn && unclaimed < read.length) {
      // While eager publishing is off, a claimed row belongs to a write that hands its rows back
      // (or to a publish still awaiting its ack or mark): rows after it wait for it, so none of
      // its aggregate's later rows overtakes it.
      rows = read.slice(
        0,
        read.findIndex((r) => claimed.has(r.event_id)),
      );
    }
    const blocked = rows.length < unclaimed;
    if (rows.length === 0) return { ids: [], failure: null, unclaimed, blocked };
    const { acked, failure } = await publishRows(rows);
    const ids = rows.slice(0, acked).map((r) => r.id);
    if (ids.length > 0) await opts.beforeMarkSent?.(ids);
    return { ids, failure, unclaimed, blocked };
  };
  // `read`: rows the pass read (claimed ones included), which decides whether to go on.
  const outcome = (read: number, { ids, failure, unclaimed, blocked }: Published): Pass => {
    if (failure !== null) {
      logger.warn(
        { event: 'bus.outbox_publish_failed', err: String(failure), sent: ids.length },
        'outbox publish failed; will retry',
      );
    }
    return { read, unclaimed, blocked, sent: ids.length, failed: failure !== null };
  };

  // On a `createDb` database: the pg pool directly, two round trips a batch (`begin` + lock +
  // select in one string, `update` + `commit` in another) and no query builder.
  const pool = poolOf(db as Kysely<unknown>);
  const flushBatchRaw = async (p: PgPool): Promise<Pass> => {
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
        return { read: 0, unclaimed: 0, blocked: false, sent: 0, failed: false };
      }
      const published = await publishBatch(rows);
      const { ids } = published;
      if (ids.length > 0) {
        if (!ids.every((id) => /^[0-9]+$/.test(id))) throw new Error('outbox id not a bigint');
        await client.query(`${markByIds}('{${ids.join(',')}}'::bigint[]); commit`);
      } else {
        await client.query('commit');
      }
      return outcome(seenOf(rows), published);
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
  const flushBatchKysely = async (): Promise<Pass> =>
    db.transaction().execute(async (trx) => {
      const { rows } = await trx.executeQuery<OutboxRow>(CompiledQuery.raw(selectSql));
      if (rows.length === 0)
        return { read: 0, unclaimed: 0, blocked: false, sent: 0, failed: false };
      const published = await publishBatch(rows);
      const { ids } = published;
      if (ids.length > 0) {
        await sql`${sql.raw(markByIds)}(${ids}::bigint[])`.execute(trx);
      }
      return outcome(seenOf(rows), published);
    });

  const flushBatch = (): Promise<Pass> =>
    pool !== undefined ? flushBatchRaw(pool) : flushBatchKysely();

  // Publishes the rows' messages in id order (a batch row's in its order) through the bus's
  // pipeline, at most `maxInFlight` awaiting their ack and at most one per order key; a message
  // whose key is busy is passed by later ones (looking at most `lookahead` messages ahead).
  // After a publish fails, only messages before it are still issued: they can still complete
  // the acked prefix, and none has its key (those went before it). Resolves once every issued
  // publish has settled, with the number of leading rows all of whose messages were acked,
  // unbroken (a duplicate ack counts).
  const publishRows = (rows: OutboxRow[]): Promise<{ acked: number; failure: unknown }> =>
    new Promise((resolve) => {
      const pipeline = opts.bus.pipeline();
      // The context's trace and correlation headers, as `publish()` adds them; the row's own
      // (captured at enqueue time) win, and `Nats-Msg-Id` is the message's.
      const base = captureHeaders();
      const messages: RowMessage[] = [];
      // ends[r]: the number of messages of rows 0..r.
      const ends: number[] = [];
      for (const row of rows) {
        for (const m of rowMessages(row)) messages.push(m);
        ends.push(messages.length);
      }
      const keys = maxInFlight > 1 ? messages.map((m) => orderKey(m.subject, m.payload)) : [];
      const busy = new Set<string>();
      const issued = new Array<boolean>(messages.length).fill(false);
      const ok = new Array<boolean>(messages.length).fill(false);
      const lookahead = maxInFlight * 4;
      let failure: unknown = null;
      // The first message whose publish failed: later ones are not issued after it failed.
      let failedAt = messages.length;
      // The first message not yet issued; every one before it has been.
      let next = 0;
      let inFlight = 0;
      const done = (): void => {
        let prefix = 0;
        while (prefix < messages.length && ok[prefix]) prefix++;
        let acked = 0;
        while (acked < rows.length && (ends[acked] as number) <= prefix) acked++;
        resolve({ acked, failure });
      };
      if (messages.length === 0) {
        done();
        return;
      }
      const issue = (k: number): void => {
        const m = messages[k] as RowMessage;
        const key = keys[k];
        if (key !== undefined) busy.add(key);
        issued[k] = true;
        const h = natsHeaders();
        for (const name in base) h.set(name, base[name] as string);
        for (const name in m.headers) h.set(name, m.headers[name] as string);
        h.set(HEADERS.msgId, m.msgId);
        inFlight++;
        pipeline
          .publishWithHeaders(qualifySubject(opts.bus, m.subject), encodePayload(m.payload), h)
          .then(
            () => {
              ok[k] = true;
            },
            (err: unknown) => {
              failure ??= err;
              failedAt = Math.min(failedAt, k);
            },
          )
          .finally(() => {
            inFlight--;
            if (key !== undefined) busy.delete(key);
            pump();
            if (inFlight === 0 && next >= failedAt) done();
          });
      };
      const pump = (): void => {
        while (next < messages.length && issued[next]) next++;
        // Keys of messages passed over in this look: a later message of theirs must wait too.
        const waiting = new Set<string>();
        const end = Math.min(failedAt, next + lookahead);
        for (let k = next; k < end && inFlight < maxInFlight; k++) {
          if (issued[k]) continue;
          const key = keys[k];
          if (key !== undefined && (busy.has(key) || waiting.has(key))) {
            waiting.add(key);
            continue;
          }
          issue(k);
        }
        while (next < messages.length && issued[next]) next++;
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
          const offBefore = eagerOn ? -1 : eagerOffs;
          const deferredBefore = deferred.done;
          const noneWriting = deferred.writing === 0;
          const pass = await flushBatch();
          total += pass.sent;
          // Eager publishing resumes only after a pass that began while it was off, saw no new
          // eager failure, found nothing left to publish, and during which no deferred write was
          // in progress or committed: no row left to the relay can then be overtaken by a later
          // eager row.
          if (
            !eagerOn &&
            offBefore === eagerOffs &&
            !pass.failed &&
            pass.unclaimed === 0 &&
            noneWriting &&
            deferred.writing === 0 &&
            deferred.done === deferredBefore
          ) {
            eagerOn = true;
          }
          if (pass.failed) return total;
          if (pass.read < batchSize) {
            if (again) continue;
            return total;
          }
          if (pass.unclaimed === 0 || pass.blocked) {
            // A full batch of rows that eager writers are about to mark (or of rows waiting
            // behind one): look again shortly rather than re-reading the same rows in a loop.
            if (again) retrySoon();
            return total;
          }
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

  function retrySoon(): void {
    if (stopped || timer) return;
    timer = setTimeout(tick, 10);
  }

  // ---- Eager publishing: rows published by their writer right after its commit.
  let inFlightEager = 0;
  let eagerIdle: (() => void) | null = null;
  const eagerDone = (n: number): void => {
    inFlightEager -= n;
    if (inFlightEager === 0 && eagerIdle !== null) eagerIdle();
  };
  const claim = (rows: OutboxEntry[]): void => {
    for (const r of rows) claimed.set(r.event_id, (claimed.get(r.event_id) ?? 0) + 1);
  };
  const unclaim = (rows: OutboxEntry[]): void => {
    for (const r of rows) {
      const n = (claimed.get(r.event_id) ?? 1) - 1;
      if (n <= 0) claimed.delete(r.event_id);
      else claimed.set(r.event_id, n);
    }
  };

  // Acked rows are marked sent in one statement per `markDelayMs`, one statement at a time (a
  // mark is not on anyone's path; gathering them saves a statement per command at low rates); a
  // claim ends when its mark commits (a relay pass then finds the row sent) or fails (the pass
  // sends it).
  const markDelayMs = Math.max(0, opts.markDelayMs ?? 50);
  let toMark: OutboxEntry[] = [];
  let marking = false;
  const markSoon = (): void => {
    if (marking || toMark.length === 0) return;
    marking = true;
    setTimeout(() => {
      const rows = toMark;
      toMark = [];
      const ids = rows.map((r) => r.event_id);
      eagerStats.marks++;
      (opts.deleteSent
        ? sql`delete from outbox where event_id = any(${ids}::text[])`
        : sql`update outbox set sent_at = clock_timestamp()
          where event_id = any(${ids}::text[]) and sent_at is null`
      )
        .execute(db)
        .catch((err: unknown) => {
          // The rows stay unsent: the relay's next pass publishes them again (duplicates).
          logger.warn({ event: 'bus.outbox_mark_failed', err: String(err) }, 'mark failed');
          notifyRelay();
        })
        .finally(() => {
          unclaim(rows);
          eagerDone(rows.length);
          marking = false;
          markSoon();
        });
    }, markDelayMs);
  };

  const eagerFailed = (row: OutboxEntry, err: unknown): void => {
    eagerStats.failed++;
    // Counted at every failure: a pass that began before it may not have seen the row.
    eagerOffs++;
    if (eagerOn) {
      eagerOn = false;
      logger.warn(
        { event: 'bus.outbox_eager_failed', err: String(err) },
        'eager publish failed; the relay publishes until it has caught up',
      );
    }
    unclaim([row]);
    eagerDone(1);
    notifyRelay();
  };

  // Publishes the entries' messages in order; an entry is marked once all its messages are
  // acked, and goes back to the relay (all of it) when one of them fails.
  const publishEager = (rows: OutboxEntry[]): void => {
    const pipeline = opts.bus.pipeline();
    for (const row of rows) {
      const messages = isOutboxBatch(row) ? row.messages : [row];
      let pending = messages.length;
      let failed = false;
      for (const m of messages) {
        const h = natsHeaders();
        const own = JSON.parse(m.headers) as Record<string, string>;
        for (const key in own) h.set(key, own[key] as string);
        h.set(HEADERS.msgId, m.event_id);
        pipeline
          .publishWithHeaders(qualifySubject(opts.bus, m.subject), Buffer.from(m.payload), h)
          .then(
            () => {
              eagerStats.published++;
              if (--pending > 0 || failed) return;
              toMark.push(row);
              markSoon();
            },
            (err: unknown) => {
              if (failed) return;
              failed = true;
              eagerFailed(row, err);
            },
          );
      }
    }
  };

  const publishAfterCommit = async <T>(
    rows: OutboxEntry[],
    write: () => Promise<T>,
    written: (result: T) => OutboxEntry[],
  ): Promise<T> => {
    if (!eagerOn || stopped) {
      eagerStats.deferred++;
      deferred.writing++;
      try {
        return await write();
      } finally {
        deferred.writing--;
        deferred.done++;
        notifyRelay();
      }
    }
    claim(rows);
    inFlightEager += rows.length;
    let result: T;
    try {
      result = await write();
    } catch (err) {
      unclaim(rows);
      eagerDone(rows.length);
      throw err;
    }
    let publish: OutboxEntry[] = [];
    try {
      publish = written(result);
    } catch (err) {
      // The write committed: its rows are the relay's now (a claim must never outlive this).
      logger.error({ event: 'bus.outbox_eager_written_failed', err: String(err) }, 'eager');
      notifyRelay();
    }
    // Rows are told apart by id: `written` may give a batch row back with fewer messages, and
    // one with none was not written (a batch row stands for at least one message).
    const ours = new Set(rows.map((r) => r.event_id));
    const mine = publish.filter(
      (r) => ours.has(r.event_id) && !(isOutboxBatch(r) && r.messages.length === 0),
    );
    const mineIds = new Set(mine.map((r) => r.event_id));
    const unused = rows.filter((r) => !mineIds.has(r.event_id));
    unclaim(unused);
    eagerDone(unused.length);
    if (!eagerOn) {
      // An eager publish failed while this write ran: published now, these rows could overtake
      // the failed one of their aggregate; the relay publishes in id order. Counted as a
      // deferred write, so no pass under way turns eager publishing back on.
      unclaim(mine);
      eagerDone(mine.length);
      eagerStats.deferred++;
      deferred.done++;
      notifyRelay();
      return result;
    }
    publishEager(mine);
    return result;
  };

  // ---- Retention: sent rows older than `retentionMs` are deleted. Ids grow with time, so the
  // relay notes the highest id every prune period and, once a noted id is older than the
  // retention, deletes sent rows up to it along the primary key (no index on time needed).
  const retentionMs = opts.retentionMs ?? 3_600_000;
  const pruneEveryMs = Math.max(10, opts.pruneEveryMs ?? 60_000);
  const pruneBatch = Math.max(1, Math.floor(opts.pruneBatch ?? 5000));
  const marks: { at: number; maxId: string }[] = [];
  const pruneOnce = async (): Promise<number> => {
    const now = Date.now();
    const { rows } = await sql<{ max: string | null }>`
      select max(id)::text as max from outbox`.execute(db);
    const maxId = rows[0]?.max ?? null;
    if (maxId !== null) marks.push({ at: now, maxId });
    let upTo: string | null = null;
    while (marks.length > 0 && now - (marks[0] as { at: number }).at >= retentionMs) {
      upTo = (marks.shift() as { maxId: string }).maxId;
    }
    if (upTo === null) return 0;
    let deleted = 0;
    for (;;) {
      const r = await sql`
        delete from outbox where id in (
          select id from outbox where id <= ${upTo}::bigint and sent_at is not null
          order by id limit ${pruneBatch}
        )`.execute(db);
      const n = Number(r.numAffectedRows ?? 0);
      deleted += n;
      if (n < pruneBatch || stopped) return deleted;
    }
  };
  let pruneTimer: NodeJS.Timeout | null = null;
  const schedulePrune = (): void => {
    if (retentionMs <= 0 || stopped) return;
    pruneTimer = setTimeout(() => {
      pruneOnce()
        .catch((err: unknown) =>
          logger.warn({ event: 'bus.outbox_prune_failed', err: String(err) }, 'prune failed'),
        )
        .finally(schedulePrune);
    }, pruneEveryMs);
    pruneTimer.unref();
  };
  schedulePrune();

  function notifyRelay(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    if (timer) clearTimeout(timer);
    timer = setTimeout(tick, 0);
  }

  return {
    notify: notifyRelay,
    stop: async () => {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      if (pruneTimer) clearTimeout(pruneTimer);
      if (running) await running.catch(() => 0);
      if (inFlightEager > 0) {
        await new Promise<void>((resolve) => {
          eagerIdle = resolve;
        });
        eagerIdle = null;
      }
    },
    flushOnce,
    publishAfterCommit,
    eagerStats,
    pruneOnce,
  };
}
