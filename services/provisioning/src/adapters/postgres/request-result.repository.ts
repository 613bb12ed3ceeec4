// Answers of provisioning and renewal requests, so a retried request gets the same answer.
import { type Executor } from './schema';

/** The stored answer for a request key, if any. */
export async function findResult(db: Executor, key: string): Promise<unknown> {
  const row = await db
    .selectFrom('request_results')
    .select('response')
    .where('request_key', '=', key)
    .executeTakeFirst();
  return row?.response;
}

/** Stores an answer (first writer wins). */
export async function saveResult(db: Executor, key: string, response: unknown): Promise<void> {
  await db
    .insertInto('request_results')
    .values({ request_key: key, response: JSON.stringify(response) })
    .onConflict((oc) => oc.column('request_key').doNothing())
    .execute();
}

/** Deletes answers older than `before`; returns how many. */
export async function purgeResults(db: Executor, before: Date): Promise<number> {
  const r = await db
    .deleteFrom('request_results')
    .where('created_at', '<', before)
    .executeTakeFirst();
  return Number(r.numDeletedRows);
}
