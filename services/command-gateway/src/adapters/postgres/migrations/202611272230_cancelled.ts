// `cancelled`: a command withdrawn before it was handed to the broker (final). The status check
// of the first migration (Postgres named it `commands_status_check`) gets the new state.
import { type Kysely, sql } from 'kysely';

const check = (states: string[]) =>
  sql.raw(`check (status in (${states.map((s) => `'${s}'`).join(',')}))`);
const BEFORE = [
  'queued',
  'sent',
  'accepted',
  'succeeded',
  'failed',
  'rejected',
  'timed_out',
  'expired',
  'dead_lettered',
];

/** Allows `cancelled`. */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`alter table commands drop constraint commands_status_check`.execute(db);
  await sql`alter table commands add constraint commands_status_check ${check([
    ...BEFORE,
    'cancelled',
  ])}`.execute(db);
}

/** Back to the states before (fails while a cancelled command exists). */
export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`alter table commands drop constraint commands_status_check`.execute(db);
  await sql`alter table commands add constraint commands_status_check ${check(BEFORE)}`.execute(db);
}
