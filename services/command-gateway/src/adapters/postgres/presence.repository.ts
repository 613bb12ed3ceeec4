// Presence as the DEVICE stream told it; a message older than the stored one is ignored
// (consumers run concurrently and redeliveries come late).
import { sql } from 'kysely';
import { type Executor } from './schema';

/** Stores presence unless a newer one is known; returns true when stored. */
export async function upsertPresence(
  db: Executor,
  p: { tenant: string; deviceId: string; online: boolean; ts: Date },
): Promise<boolean> {
  const r = await db
    .insertInto('device_presence')
    .values({ tenant: p.tenant, device_id: p.deviceId, online: p.online, ts: p.ts })
    .onConflict((oc) =>
      oc
        .columns(['tenant', 'device_id'])
        .doUpdateSet({ online: sql`excluded.online`, ts: sql`excluded.ts` })
        .where('device_presence.ts', '<=', sql<Date>`excluded.ts`),
    )
    .executeTakeFirst();
  return Number(r.numInsertedOrUpdatedRows ?? 0) > 0;
}

/** Online devices among `deviceIds` of a tenant. */
export async function onlineDevices(
  db: Executor,
  tenant: string,
  deviceIds: string[],
): Promise<Set<string>> {
  if (deviceIds.length === 0) return new Set();
  const rows = await db
    .selectFrom('device_presence')
    .select('device_id')
    .where('tenant', '=', tenant)
    .where('device_id', 'in', deviceIds)
    .where('online', '=', true)
    .execute();
  return new Set(rows.map((r) => r.device_id));
}

/** Online devices after `after` in primary-key order, `limit` at most (a keyset page). */
export async function onlineDevicesPage(
  db: Executor,
  after: { tenant: string; deviceId: string } | null,
  limit: number,
): Promise<{ tenant: string; deviceId: string }[]> {
  let q = db
    .selectFrom('device_presence')
    .select(['tenant', 'device_id'])
    .where('online', '=', true)
    .orderBy('tenant')
    .orderBy('device_id')
    .limit(limit);
  if (after !== null) {
    q = q.where(sql<boolean>`(tenant, device_id) > (${after.tenant}, ${after.deviceId})`);
  }
  const rows = await q.execute();
  return rows.map((r) => ({ tenant: r.tenant, deviceId: r.device_id }));
}
