import { sql, type Generated, type Kysely } from 'kysely';
import { type Migration } from 'kysely/migration';
import { type CloudEvent } from '@drover/contracts';
import { captureHeaders } from './headers';
import { assertValidEvent, logicalEventSubject } from './publish';

/**
 * Any Kysely instance or transaction whatever its DB type: Kysely is invariant in DB, so a
 * service's `Transaction<ServiceDb>` fits neither `Kysely<unknown>` nor an inferred generic.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyKysely = Kysely<any>;

/** The outbox table as kysely sees it. */
export interface OutboxTable {
  /** Insert order, which is publish order. */
  id: Generated<string>;
  /** `Nats-Msg-Id` of the message (the event id for events). */
  event_id: string;
  /** Subject without the namespace prefix (the relay adds its bus's); null in a batch row. */
  subject: string | null;
  /** JSON payload (the CloudEvent envelope for events); null in a batch row. */
  payload: unknown;
  /** Trace and correlation headers captured at enqueue time. */
  headers: Record<string, string>;
  /** When the row was written. */
  created_at: Generated<Date>;
  /** When the relay got the stream's ack; null while pending. */
  sent_at: Date | null;
  /**
   * A batch row's messages (with {@link outboxBatchMigration}): one line of JSON each
   * (`{"s":subject,"id":msgId,"h":headers,"p":payload}`), joined by newlines, published in
   * order; null in a row of one message.
   */
  batch?: string | null;
}

/** A database that has the outbox table. */
export interface OutboxDb {
  /** The outbox of the service's schema. */
  outbox: OutboxTable;
}

/** Creates `outbox` and its partial index on unsent rows; include it in a service's migrations. */
export const outboxMigration: Migration = {
  async up(db): Promise<void> {
    await db.schema
      .createTable('outbox')
      .ifNotExists()
      .addColumn('id', 'bigserial', (c) => c.primaryKey())
      .addColumn('event_id', 'text', (c) => c.notNull().unique())
      .addColumn('subject', 'text', (c) => c.notNull())
      .addColumn('payload', 'jsonb', (c) => c.notNull())
      .addColumn('headers', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
      .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
      .addColumn('sent_at', 'timestamptz')
      .execute();
    await db.schema
      .createIndex('outbox_unsent_idx')
      .ifNotExists()
      .on('outbox')
      .column('id')
      .where(sql.ref('sent_at'), 'is', null)
      .execute();
  },
  async down(db): Promise<void> {
    await db.schema.dropTable('outbox').ifExists().execute();
  },
};

/**
 * Lets the outbox hold batch rows: one row standing for many messages (the `batch` column),
 * for a service that writes many messages per statement. A row of one message costs a heap
 * tuple and three index entries, a JSON parse of its payload and headers, its delete and its
 * vacuum; a batch row costs that once for all its messages, and its text is stored as is
 * (`storage external`: no parse, no compression). A service that writes batch rows runs this
 * migration after {@link outboxMigration} and starts its relay with `batches: true`.
 */
export const outboxBatchMigration: Migration = {
  async up(db): Promise<void> {
    await sql`alter table outbox
      add column if not exists batch text,
      alter column subject drop not null,
      alter column payload drop not null`.execute(db);
    await sql`alter table outbox alter column batch set storage external`.execute(db);
  },
  async down(db): Promise<void> {
    await sql`delete from outbox where batch is not null`.execute(db);
    await sql`alter table outbox
      drop column batch,
      alter column subject set not null,
      alter column payload set not null`.execute(db);
  },
};

/** A non-event message to publish through the outbox (e.g. a desired-state push). */
export interface OutboxMessage {
  /** Subject, without namespace prefix (a prefixed one is accepted too). */
  subject: string;
  /** Dedup id; unique across the outbox. */
  msgId: string;
  /** JSON payload. */
  payload: unknown;
  /** Extra headers. */
  headers?: Record<string, string>;
}

/** One outbox row as inserted (`payload` and `headers` JSON-encoded). */
export interface OutboxInsertRow {
  /** `Nats-Msg-Id`. */
  event_id: string;
  /** Subject without namespace prefix. */
  subject: string;
  /** JSON text of the payload. */
  payload: string;
  /** JSON text of the headers (trace and correlation of the caller's context included). */
  headers: string;
}

/**
 * One outbox row that stands for many messages, published in order (see
 * {@link outboxBatchMigration}). Its `event_id` is derived from its first message's, so it is
 * unique like the messages' ids; a copy with fewer `messages` (those a statement really wrote)
 * keeps the same `event_id`.
 */
export interface OutboxBatchRow {
  /** The row's unique id (not a message id). */
  event_id: string;
  /** The messages, in publish order. */
  messages: OutboxInsertRow[];
}

/** A row {@link OutboxRelay.publishAfterCommit} publishes: one message or a batch. */
export type OutboxEntry = OutboxInsertRow | OutboxBatchRow;

/** Whether an entry is a batch row. */
export const isOutboxBatch = (e: OutboxEntry): e is OutboxBatchRow => 'messages' in e;

/** A batch row of `messages` (at least one). */
export function outboxBatch(messages: OutboxInsertRow[]): OutboxBatchRow {
  const first = messages[0];
  if (first === undefined) throw new Error('an outbox batch needs a message');
  return { event_id: `batch:${first.event_id}`, messages };
}

/**
 * The line of one message in a batch row's text; the lines of a batch are joined by `\n`
 * (JSON text never holds a raw newline). Payload and headers go in as the JSON text they are.
 */
export function outboxBatchLine(m: OutboxInsertRow): string {
  return `{"s":${JSON.stringify(m.subject)},"id":${JSON.stringify(m.event_id)},"h":${m.headers},"p":${m.payload}}`;
}

/** One message of a batch row's text, as read back. */
export interface OutboxBatchMessage {
  /** Subject without namespace prefix. */
  s: string;
  /** `Nats-Msg-Id`. */
  id: string;
  /** Headers. */
  h: Record<string, string>;
  /** Payload. */
  p: unknown;
}

/** The messages of a batch row's text, in order. */
export function parseOutboxBatch(text: string): OutboxBatchMessage[] {
  return text === '' ? [] : text.split('\n').map((line) => JSON.parse(line) as OutboxBatchMessage);
}

/**
 * The rows {@link enqueueMessages} inserts, in order, for a service that folds the insert into
 * a statement of its own (one round trip instead of several); headers are captured from the
 * caller's context now. The row format stays the bus's business.
 */
export function outboxRows(messages: OutboxMessage[]): OutboxInsertRow[] {
  const captured = captureHeaders();
  return messages.map((m) => ({
    event_id: m.msgId,
    subject: m.subject,
    payload: JSON.stringify(m.payload),
    headers: JSON.stringify({ ...captured, ...m.headers }),
  }));
}

/** Validates each event and turns it into an outbox message on its event subject. */
export function eventMessages(events: CloudEvent<unknown>[]): OutboxMessage[] {
  for (const e of events) assertValidEvent(e);
  return events.map((e) => ({
    subject: logicalEventSubject(e),
    msgId: e.id,
    payload: e,
    headers: {
      ...(e.correlationid ? { 'Drover-Correlation-Id': e.correlationid } : {}),
      ...(e.traceparent ? { traceparent: e.traceparent } : {}),
    },
  }));
}

/**
 * Inserts messages in the caller's transaction: they are published if and only if it commits.
 * A repeated msgId is ignored, so retrying a use case does not duplicate its messages.
 */
export async function enqueueMessages(trx: AnyKysely, messages: OutboxMessage[]): Promise<void> {
  if (messages.length === 0) return;
  await (trx as Kysely<OutboxDb>)
    .insertInto('outbox')
    .values(
      outboxRows(messages).map((r) => ({
        ...r,
        headers: r.headers as unknown as Record<string, string>,
        sent_at: null,
      })),
    )
    .onConflict((oc) => oc.column('event_id').doNothing())
    .execute();
}

/** Validates each event and enqueues it on its event subject with `msgId = event.id`. */
export async function enqueueEvents(trx: AnyKysely, events: CloudEvent<unknown>[]): Promise<void> {
  await enqueueMessages(trx, eventMessages(events));
}
