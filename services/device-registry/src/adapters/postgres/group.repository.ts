// Group persistence: definitions in `groups`, static members in `group_members`.
import { type GroupFilter } from '@drover/contracts';
import { conflict } from '../../domain/errors';
import { type GroupRow } from './group.table';
import { type Executor } from './schema';

/** Inserts a group (409 `group_exists` when the id is taken). */
export async function insertGroup(
  db: Executor,
  row: {
    tenant: string;
    groupId: string;
    name: string;
    description: string | null;
    kind: 'static' | 'dynamic';
    filter: GroupFilter | null;
  },
): Promise<GroupRow> {
  try {
    return await db
      .insertInto('groups')
      .values({
        tenant: row.tenant,
        group_id: row.groupId,
        name: row.name,
        description: row.description,
        kind: row.kind,
        filter: row.filter === null ? null : JSON.stringify(row.filter),
      })
      .returningAll()
      .executeTakeFirstOrThrow();
  } catch (err) {
    if ((err as { code?: string }).code === '23505') {
      throw conflict('group_exists', `group ${row.groupId} already exists`);
    }
    throw err;
  }
}

/** Adds members to a static group. */
export async function insertMembers(
  db: Executor,
  tenant: string,
  groupId: string,
  deviceIds: readonly string[],
): Promise<void> {
  if (deviceIds.length === 0) return;
  await db
    .insertInto('group_members')
    .values(deviceIds.map((device_id) => ({ tenant, group_id: groupId, device_id })))
    .execute();
}

/** One group of the tenant. */
export async function findGroup(
  db: Executor,
  tenant: string,
  groupId: string,
): Promise<GroupRow | undefined> {
  return db
    .selectFrom('groups')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('group_id', '=', groupId)
    .executeTakeFirst();
}

/** Member ids of a static group, sorted. */
export async function memberIds(db: Executor, tenant: string, groupId: string): Promise<string[]> {
  const rows = await db
    .selectFrom('group_members')
    .select('device_id')
    .where('tenant', '=', tenant)
    .where('group_id', '=', groupId)
    .orderBy('device_id')
    .execute();
  return rows.map((r) => r.device_id);
}

/** A keyset page of the tenant's groups ordered by group_id. */
export async function listGroups(
  db: Executor,
  tenant: string,
  page: { limit: number; afterId?: string },
): Promise<GroupRow[]> {
  let q = db.selectFrom('groups').selectAll().where('tenant', '=', tenant);
  if (page.afterId !== undefined) q = q.where('group_id', '>', page.afterId);
  return q.orderBy('group_id').limit(page.limit).execute();
}
