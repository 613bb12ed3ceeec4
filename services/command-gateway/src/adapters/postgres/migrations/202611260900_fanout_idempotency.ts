// A retried group fan-out with the same Idempotency-Key finds the first one instead of making a
// second; and an index for the per-device release of waiting commands.
import { type Kysely, sql } from 'kysely';

/** Adds `fanouts.idempotency_key`, unique per tenant. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('fanouts').addColumn('idempotency_key', 'text').execute();
  await db.schema
    .alterTable('fanouts')
    .addUniqueConstraint('fanouts_idempotency_key', ['tenant', 'idempotency_key'])
    .execute();
  await sql`create index if not exists commands_fanout_dispatched_idx
    on commands (fanout_id, dispatched_at) where fanout_id is not null`.execute(db);
}
