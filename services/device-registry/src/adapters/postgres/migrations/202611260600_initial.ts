// Devices, types, groups and state. Indexes follow the list filters (tenant first: every
// query is tenant-scoped) and keyset pagination on device_id.
import { type Kysely, sql } from 'kysely';

/** Creates the registry tables. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('device_types')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('device_types_pk', ['tenant', 'device_type'])
    .execute();

  await db.schema
    .createTable('devices')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('hardware_id', 'text', (c) => c.notNull())
    .addColumn('hardware_model', 'text')
    .addColumn('status', 'text', (c) =>
      c
        .notNull()
        .defaultTo('active')
        .check(sql`status in ('active', 'decommissioned')`),
    )
    .addColumn('connectivity', 'text', (c) =>
      c
        .notNull()
        .defaultTo('unknown')
        .check(sql`connectivity in ('online', 'offline', 'unknown')`),
    )
    .addColumn('last_seen', 'timestamptz')
    .addColumn('last_presence_ts', 'timestamptz')
    .addColumn('firmware_version', 'text')
    .addColumn('tags', sql`text[]`, (c) => c.notNull().defaultTo(sql`'{}'::text[]`))
    .addColumn('attributes', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('certificate', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('decommissioned_at', 'timestamptz')
    .addPrimaryKeyConstraint('devices_pk', ['tenant', 'device_id'])
    .addUniqueConstraint('devices_hardware_id_key', ['tenant', 'hardware_id'])
    .addForeignKeyConstraint('devices_device_type_fk', ['tenant', 'device_type'], 'device_types', [
      'tenant',
      'device_type',
    ])
    .execute();
  await sql`create index devices_tags_gin on devices using gin (tags)`.execute(db);
  await sql`create index devices_attributes_gin on devices using gin (attributes jsonb_path_ops)`.execute(
    db,
  );
  for (const column of ['device_type', 'connectivity', 'firmware_version', 'hardware_model']) {
    await db.schema
      .createIndex(`devices_${column}_idx`)
      .on('devices')
      .columns(['tenant', column, 'device_id'])
      .execute();
  }

  await db.schema
    .createTable('device_state')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('desired', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('desired_version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('desired_updated_at', 'timestamptz')
    .addColumn('reported', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('reported_version', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('reported_updated_at', 'timestamptz')
    .addPrimaryKeyConstraint('device_state_pk', ['tenant', 'device_id'])
    .addForeignKeyConstraint('device_state_device_fk', ['tenant', 'device_id'], 'devices', [
      'tenant',
      'device_id',
    ])
    .execute();

  await db.schema
    .createTable('groups')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('description', 'text')
    .addColumn('kind', 'text', (c) => c.notNull().check(sql`kind in ('static', 'dynamic')`))
    .addColumn('filter', 'jsonb')
    .addColumn('created_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('groups_pk', ['tenant', 'group_id'])
    .execute();

  await db.schema
    .createTable('group_members')
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('group_id', 'text', (c) => c.notNull())
    .addColumn('device_id', 'text', (c) => c.notNull())
    .addColumn('added_at', 'timestamptz', (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('group_members_pk', ['tenant', 'group_id', 'device_id'])
    .addForeignKeyConstraint(
      'group_members_group_fk',
      ['tenant', 'group_id'],
      'groups',
      ['tenant', 'group_id'],
      (fk) => fk.onDelete('cascade'),
    )
    .addForeignKeyConstraint('group_members_device_fk', ['tenant', 'device_id'], 'devices', [
      'tenant',
      'device_id',
    ])
    .execute();
  await db.schema
    .createIndex('group_members_device_idx')
    .on('group_members')
    .columns(['tenant', 'device_id'])
    .execute();
}

/** Drops the registry tables. */
export async function down(db: Kysely<unknown>): Promise<void> {
  for (const table of ['group_members', 'groups', 'device_state', 'devices', 'device_types']) {
    await db.schema.dropTable(table).execute();
  }
}
