// Deployments and their per-device rows. Timers are columns (`next_evaluation_at` on the
// deployment, `deadline_at` on a device) and the driver's lease is a pair of columns, so after a
// restart any replica finds due work by index and picks it up with FOR UPDATE SKIP LOCKED.
import { type Kysely, sql } from 'kysely';

/** Creates the rollout tables. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('deployments')
    .addColumn('deployment_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('firmware_id', 'text', (c) => c.notNull())
    .addColumn('firmware_version', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('target', 'jsonb', (c) => c.notNull())
    .addColumn('config', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(
          sql`status in ('pending','running','paused','rolling_back','rolled_back','completed','aborted')`,
        ),
    )
    .addColumn('reason', 'text')
    .addColumn('current_stage', 'integer', (c) => c.notNull().defaultTo(-1))
    .addColumn('stages', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .addColumn('next_evaluation_at', 'timestamptz')
    .addColumn('lease_owner', 'text')
    .addColumn('lease_until', 'timestamptz')
    .addColumn('revision', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('created_by', 'text')
    .addColumn('idempotency_key', 'text')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addColumn('finished_at', 'timestamptz')
    .addUniqueConstraint('deployments_idempotency_key', ['tenant', 'idempotency_key'])
    .execute();
  await sql`create index deployments_due_idx on deployments (next_evaluation_at)
    where next_evaluation_at is not null`.execute(db);
  await db.schema
    .createIndex('deployments_tenant_idx')
    .on('deployments')
    .columns(['tenant', 'deployment_id'])
    .execute();

  await db.schema
    .createTable('deployment_devices')
    .addColumn('deployment_id', 'text', (c) =>
      c.notNull().references('deployments.deployment_id').onDelete('cascade'),
    )
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('order_key', 'text', (c) => c.notNull())
    .addColumn('stage', 'integer')
    .addColumn('joined', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .check(sql`status in ('pending','updating','succeeded','failed','offline','skipped')`),
    )
    .addColumn('rollback_status', 'text', (c) =>
      c.check(sql`rollback_status in ('rolling_back','rolled_back','rollback_failed')`),
    )
    .addColumn('hardware_model', 'text')
    .addColumn('previous_version', 'text')
    .addColumn('update_state', 'text')
    .addColumn('reported_succeeded', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('online', 'boolean')
    .addColumn('went_offline', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('running_version', 'text')
    .addColumn('presence_at', 'timestamptz')
    .addColumn('update_command_id', 'text')
    .addColumn('rollback_command_id', 'text')
    .addColumn('dispatched_at', 'timestamptz')
    .addColumn('deadline_at', 'timestamptz')
    .addColumn('finished_at', 'timestamptz')
    .addColumn('rollback_dispatched_at', 'timestamptz')
    .addColumn('error', 'text')
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull())
    .addPrimaryKeyConstraint('deployment_devices_pk', ['deployment_id', 'device_id'])
    .execute();
  await sql`create index deployment_devices_deadline_idx on deployment_devices (deployment_id, deadline_at)
    where status = 'updating' or rollback_status = 'rolling_back'`.execute(db);
  await db.schema
    .createIndex('deployment_devices_order_idx')
    .on('deployment_devices')
    .columns(['deployment_id', 'order_key'])
    .execute();
  await sql`create index deployment_devices_device_idx on deployment_devices (tenant, device_id)
    where status in ('updating','offline') or rollback_status = 'rolling_back'`.execute(db);
}

/** Drops the rollout tables. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('deployment_devices').ifExists().execute();
  await db.schema.dropTable('deployments').ifExists().execute();
}
