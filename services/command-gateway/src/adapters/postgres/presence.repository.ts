// Presence as the DEVICE stream told it; a message older than the stored one is ignored
// (consumers run concurrently and redeliveries come late).
import { sql } from 'kysely';
import { type Executor } from './schema';

/** One device's presence as the DEVICE stream told it. */
export interface PresenceFact {
  /** Tenant. */
  tenant: string;
  /** Device. */
  deviceId: string;
  /** Online (connected) or offline (its last will). */
  online: boolean;
  /** The ingress's receipt time: presence is ordered by it. */
  ts: Date;
}

/** The key {@link upsertPresenceMany} returns for a device. */
export const presenceKey = (tenant: string, deviceId: string) => `${tenant}\u0000${deviceId}`;

/**
 * Stores many devices' presence in one statement, each unless a newer one is known (at most
 * one fact per device: Postgres refuses to update a row twice in one statement). Returns the
 * keys ({@link presenceKey}) of the facts stored.
 */
export async function upsertPresenceMany(
  db: Executor,
  facts: readonly PresenceFact[],
): Promise<Set<string>> {
  if (facts.length === 0) return new Set();
  const rows = JSON.stringify(
    facts.map((f) => ({
      tenant: f.tenant,
      device_id: f.deviceId,
      online: f.online,
      ts: f.ts.toISOString(),
    })),
  );
  // The `limit` tells the planner the row count (see compareAndMoveMany).
  const r = await sql<{ tenant: string; device_id: string }>`
    insert into device_presence (tenant, device_id, online, ts)
    select v.tenant, v.device_id, v.online, v.ts
    from jsonb_to_recordset(${rows}::jsonb) as v(
      tenant text, device_id text, online boolean, ts timestamptz
    )
    limit ${facts.length}
    on conflict (tenant, device_id) do update set online = excluded.online, ts = excluded.ts
      where device_presence.ts <= excluded.ts
    returning tenant, device_id
  `.execute(db);
  return new Set(r.rows.map((row) => presenceKey(row.tenant, row.device_id)));
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
