// Commands, presence and fan-outs. Timers are columns (`next_attempt_at`, `deadline_at`, and
// `due_at` = the earlier of both) so the scanner finds due work by index after any restart.
import { type Kysely, sql } from 'kysely';

/** Creates the command-gateway tables. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('commands')
    .addColumn('command_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('params', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`status in ('queued','sent','accepted','succeeded','failed','rejected','timed_out','expired','dead_lettered')`,
        ),
    )
    .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('answered', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('dispatched_at', 'timestamptz')
    .addColumn('sent_at', 'timestamptz')
    .addColumn('accepted_at', 'timestamptz')
    .addColumn('completed_at', 'timestamptz')
    .addColumn('expires_at', 'timestamptz', (c) => c.notNull())
    .addColumn('timeout_s', 'integer', (c) => c.notNull())
    .addColumn('next_attempt_at', 'timestamptz')
    .addColumn('deadline_at', 'timestamptz')
    .addColumn('due_at', 'timestamptz', (c) =>
      c.generatedAlwaysAs(sql`least(next_attempt_at, deadline_at)`).stored(),
    )
    .addColumn('result', 'jsonb')
    .addColumn('error', 'text')
    .addColumn('rtt_ms', 'integer')
    .addColumn('idempotency_key', 'text')
    .addColumn('fanout_id', 'text')
    .addUniqueConstraint('commands_idempotency_key', ['tenant', 'idempotency_key'])
    .execute();
  await sql`create index commands_due_idx on commands (due_at)
    where status in ('queued','sent','accepted') and due_at is not null`.execute(db);
  await sql`create index commands_device_queued_idx on commands (tenant, device_id, command_id)
    where status in ('queued','sent')`.execute(db);
  await db.schema
    .createIndex('commands_tenant_idx')
    .on('commands')
    .columns(['tenant', 'command_id'])
    .execute();
  await db.schema
    .createIndex('commands_fanout_idx')
    .on('commands')
    .columns(['fanout_id', 'status'])
    .execute();

  await db.schema
    .createTable('device_presence')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('online', 'boolean', (c) => c.notNull())
    .addColumn('ts', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('device_presence_pk', ['tenant', 'device_id'])
    .execute();

  await db.schema
    .createTable('fanouts')
    .addColumn('fanout_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('rate_per_s', 'integer', (c) => c.notNull())
    .addColumn('total', 'integer', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
}
