// A device's commands, newest first (`GET /devices/{id}/commands`, `list_commands` with a
// device): without this index the list walks the tenant's commands until it has found a page of
// the device's. It costs one more index entry per row version (creates and state changes).
// Built inside the migration's transaction, so it blocks writes to `commands` while it builds.
import { type Kysely, sql } from 'kysely';

/** Indexes commands by tenant, device and id. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`create index commands_device_idx on commands (tenant, device_id, command_id)`.execute(
    db,
  );
}

/** Drops the index. */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`drop index commands_device_idx`.execute(db);
}
