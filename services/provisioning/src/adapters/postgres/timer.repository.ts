// Periodic jobs as rows: a replica claims a due job with FOR UPDATE SKIP LOCKED inside its
// transaction, so two replicas never run the same job at the same time, and a crash mid-run
// rolls the claim back (the job is due again).
import { type Executor } from './schema';

/** Locks the job if it is due; true when this transaction owns the run. */
export async function claimDueTimer(db: Executor, name: string, now: Date): Promise<boolean> {
  const row = await db
    .selectFrom('timers')
    .select('name')
    .where('name', '=', name)
    .where('next_run_at', '<=', now)
    .forUpdate()
    .skipLocked()
    .executeTakeFirst();
  return row !== undefined;
}

/** Sets the next due time after a run. */
export async function scheduleTimer(
  db: Executor,
  name: string,
  nextRunAt: Date,
  ranAt: Date,
): Promise<void> {
  await db
    .updateTable('timers')
    .set({ next_run_at: nextRunAt, last_run_at: ranAt })
    .where('name', '=', name)
    .execute();
}
