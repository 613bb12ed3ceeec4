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
  /** Subject without the namespace prefix (the relay adds its bus's). */
  subject: string;
  /** JSON payload (the CloudEvent envelope for events). */
  payload: unknown;
  /** Trace and correlation headers captured at enqueue time. */
  headers: Record<string, string>;
  /** When the row was written. */
  created_at: Generated<Date>;
  /** When the relay got the stream's ack; null while pending. */
  sent_at: Date | null;
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
