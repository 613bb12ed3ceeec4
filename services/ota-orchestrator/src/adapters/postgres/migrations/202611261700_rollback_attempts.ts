// How many times a device's rollback was sent again (a device busy finishing the bad update
// rejects the first one; see domain/rollout-device.ts).
import { type Kysely, sql } from 'kysely';

/** Adds `deployment_devices.rollback_attempts`. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .alterTable('deployment_devices')
    .addColumn('rollback_attempts', 'integer', (c) => c.notNull().defaultTo(sql`0`))
    .execute();
}

/** Drops it. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await db.schema.alterTable('deployment_devices').dropColumn('rollback_attempts').execute();
}
