// The firmware registry: one immutable row per registered image. (tenant, device_type, version)
// is unique, so registering the same version twice is a conflict even under a race.
import { type Kysely, sql } from 'kysely';

/** Creates the firmware table. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('firmware')
    .addColumn('firmware_id', 'text', (c) => c.primaryKey())
    .addColumn('tenant', 'text', (c) => c.notNull())
    .addColumn('version', 'text', (c) => c.notNull())
    .addColumn('device_type', 'text', (c) => c.notNull())
    .addColumn('hardware_models', sql`text[]`, (c) => c.notNull())
    .addColumn('sha256', 'text', (c) => c.notNull().check(sql`sha256 ~ '^[0-9a-f]{64}$'`))
    .addColumn('size', 'bigint', (c) => c.notNull().check(sql`size > 0`))
    .addColumn('signature', 'text', (c) => c.notNull())
    .addColumn('signature_alg', 'text', (c) => c.notNull().check(sql`signature_alg = 'ed25519'`))
    .addColumn('key_id', 'text', (c) => c.notNull())
    .addColumn('sigstore_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('artifact_key', 'text', (c) => c.notNull())
    .addColumn('created_at', 'timestamptz', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('firmware_version_uq')
    .on('firmware')
    .columns(['tenant', 'device_type', 'version'])
    .unique()
    .execute();
  await db.schema
    .createIndex('firmware_tenant_idx')
    .on('firmware')
    .columns(['tenant', 'firmware_id'])
    .execute();
}

/** Drops it. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.dropTable('firmware').execute();
}
