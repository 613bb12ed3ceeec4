// Device and device-type persistence. Functions take a connection or a transaction; the
// transaction is opened by the use case.
import { type ExpressionBuilder, sql, type SelectQueryBuilder } from 'kysely';
import { type OutboxInsertRow } from '@drover/bus';
import { type GroupFilter } from '@drover/contracts';
import { conflict } from '../../domain/errors';
import { type DeviceRow, type DeviceRowUpdate, type NewDeviceRow } from './device.table';
import { type DB, type Executor } from './schema';

/** Filters of `list_devices` after validation (group resolved by the caller). */
export interface DeviceListFilter {
  /** Exact device type. */
  deviceType?: string;
  /** Has this tag. */
  tag?: string;
  /** Exact connectivity. */
  connectivity?: 'online' | 'offline';
  /** Exact firmware version. */
  firmwareVersion?: string;
  /** LIKE pattern (already escaped) on device_id or the attributes' JSON text. */
  like?: string;
  /** Members of a static group. */
  staticGroupId?: string;
  /** Matches a dynamic group's filter (active devices only). */
  dynamicFilter?: GroupFilter;
  /** Only active devices (group listings). */
  activeOnly?: boolean;
}

/** Inserts a device; maps unique violations to 409 `device_exists` / `hardware_id_taken`. */
export async function insertDevice(db: Executor, row: NewDeviceRow): Promise<DeviceRow> {
  try {
    return await db.insertInto('devices').values(row).returningAll().executeTakeFirstOrThrow();
  } catch (err) {
    const pgErr = err as { code?: string; constraint?: string };
    if (pgErr.code === '23505' && pgErr.constraint === 'devices_hardware_id_key') {
      throw conflict('hardware_id_taken', 'a device with this hardware id exists in the tenant');
    }
    if (pgErr.code === '23505') {
      throw conflict('device_exists', `device ${row.device_id} already exists`);
    }
    throw err;
  }
}

/** Creates the device type on first use (idempotent). */
export async function ensureDeviceType(db: Executor, tenant: string, deviceType: string) {
  await db
    .insertInto('device_types')
    .values({ tenant, device_type: deviceType })
    .onConflict((oc) => oc.columns(['tenant', 'device_type']).doNothing())
    .execute();
}

/** One device of the tenant, optionally locked for the rest of the transaction. */
export async function findDevice(
  db: Executor,
  tenant: string,
  deviceId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<DeviceRow | undefined> {
  let q = db
    .selectFrom('devices')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** The devices of the tenant among `ids` (unknown ids are left out). */
export async function findDevices(
  db: Executor,
  tenant: string,
  ids: readonly string[],
): Promise<DeviceRow[]> {
  if (ids.length === 0) return [];
  return db
    .selectFrom('devices')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('device_id', 'in', ids)
    .execute();
}

/** Applies a change and returns the new row. */
export async function updateDevice(
  db: Executor,
  tenant: string,
  deviceId: string,
  change: DeviceRowUpdate,
): Promise<DeviceRow> {
  return db
    .updateTable('devices')
    .set(change)
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** The given ids that do not exist in the tenant. */
export async function missingDeviceIds(
  db: Executor,
  tenant: string,
  ids: readonly string[],
): Promise<string[]> {
  if (ids.length === 0) return [];
  const found = await db
    .selectFrom('devices')
    .select('device_id')
    .where('tenant', '=', tenant)
    .where('device_id', 'in', ids)
    .execute();
  const have = new Set(found.map((r) => r.device_id));
  return ids.filter((id) => !have.has(id));
}

type DeviceQuery = SelectQueryBuilder<DB, 'devices', DeviceRow>;

/** The SQL form of `matchesFilter` (domain/group.rules.ts): AND of every given criterion. */
export function whereGroupFilter(q: DeviceQuery, f: GroupFilter): DeviceQuery {
  let out = q.where('devices.status', '=', 'active');
  if (f.device_type !== undefined) out = out.where('devices.device_type', '=', f.device_type);
  if (f.hardware_model !== undefined) {
    out = out.where('devices.hardware_model', '=', f.hardware_model);
  }
  if (f.firmware_version !== undefined) {
    out = out.where('devices.firmware_version', '=', f.firmware_version);
  }
  if (f.connectivity !== undefined) out = out.where('devices.connectivity', '=', f.connectivity);
  if (f.tags_all !== undefined && f.tags_all.length > 0) {
    out = out.where(sql<boolean>`devices.tags @> ${sql.val(f.tags_all)}::text[]`);
  }
  if (f.attributes !== undefined && Object.keys(f.attributes).length > 0) {
    out = out.where(sql<boolean>`devices.attributes @> ${JSON.stringify(f.attributes)}::jsonb`);
  }
  return out;
}

function inStaticGroup(tenant: string, groupId: string) {
  return (eb: ExpressionBuilder<DB, 'devices'>) =>
    eb.exists(
      eb
        .selectFrom('group_members as gm')
        .select(sql.lit(1).as('one'))
        .where('gm.tenant', '=', tenant)
        .where('gm.group_id', '=', groupId)
        .whereRef('gm.device_id', '=', 'devices.device_id'),
    );
}

// The filtered, keyset-paged query behind listDevices and listDeviceTargetRows.
function devicePageQuery(
  db: Executor,
  tenant: string,
  filter: DeviceListFilter,
  page: { limit: number; afterId?: string },
): DeviceQuery {
  let q: DeviceQuery = db.selectFrom('devices').selectAll().where('devices.tenant', '=', tenant);
  if (filter.deviceType !== undefined) q = q.where('device_type', '=', filter.deviceType);
  if (filter.tag !== undefined) q = q.where(sql<boolean>`tags @> array[${filter.tag}]::text[]`);
  if (filter.connectivity !== undefined) q = q.where('connectivity', '=', filter.connectivity);
  if (filter.firmwareVersion !== undefined) {
    q = q.where('firmware_version', '=', filter.firmwareVersion);
  }
  if (filter.like !== undefined) {
    const like = filter.like;
    q = q.where((eb) =>
      eb.or([eb('device_id', 'ilike', like), eb(sql`attributes::text`, 'ilike', like)]),
    );
  }
  if (filter.activeOnly) q = q.where('status', '=', 'active');
  if (filter.staticGroupId !== undefined) q = q.where(inStaticGroup(tenant, filter.staticGroupId));
  if (filter.dynamicFilter !== undefined) q = whereGroupFilter(q, filter.dynamicFilter);
  if (page.afterId !== undefined) q = q.where('device_id', '>', page.afterId);
  return q.orderBy('device_id').limit(page.limit);
}

/** A keyset page of the tenant's devices ordered by device_id, after `afterId`. */
export async function listDevices(
  db: Executor,
  tenant: string,
  filter: DeviceListFilter,
  page: { limit: number; afterId?: string },
): Promise<DeviceRow[]> {
  return devicePageQuery(db, tenant, filter, page).execute();
}

/** The five columns a rollout planner needs (`list_device_targets`). */
export type DeviceTargetRow = Pick<
  DeviceRow,
  'device_id' | 'device_type' | 'hardware_model' | 'firmware_version' | 'status'
>;

/**
 * The same page as {@link listDevices}, but only the columns of a target row: no tags,
 * attributes or timestamps to read and parse (most of what a 5,000-row page cost).
 */
export async function listDeviceTargetRows(
  db: Executor,
  tenant: string,
  filter: DeviceListFilter,
  page: { limit: number; afterId?: string },
): Promise<DeviceTargetRow[]> {
  return devicePageQuery(db, tenant, filter, page)
    .clearSelect()
    .select([
      'devices.device_id',
      'devices.device_type',
      'devices.hardware_model',
      'devices.firmware_version',
      'devices.status',
    ])
    .execute();
}

/** A device as a presence batch reads it: what the presence rules need, and its row version. */
export interface PresenceRow {
  /** Owning tenant. */
  tenant: string;
  /** Device id. */
  device_id: string;
  /** `active` or `decommissioned`. */
  status: 'active' | 'decommissioned';
  /** Current connectivity. */
  connectivity: 'online' | 'offline' | 'unknown';
  /** Last activity. */
  last_seen: Date | null;
  /** Receipt time of the last applied presence. */
  last_presence_ts: Date | null;
  /** Firmware version. */
  firmware_version: string | null;
  /** Hardware model. */
  hardware_model: string | null;
  /** Row version (`xmin`) when read. */
  row_version: string;
}

/** A device key of a presence batch. */
export interface PresenceKey {
  /** Tenant. */
  tenant: string;
  /** Device id. */
  deviceId: string;
}

/**
 * The devices among `keys` (any tenants; unknown ones are left out), with their row versions,
 * in one statement and without a lock.
 */
export async function findPresenceRows(
  db: Executor,
  keys: readonly PresenceKey[],
): Promise<PresenceRow[]> {
  if (keys.length === 0) return [];
  const r = await sql<PresenceRow>`
    select d.tenant, d.device_id, d.status, d.connectivity, d.last_seen, d.last_presence_ts,
      d.firmware_version, d.hardware_model, d.xmin::text as row_version
    from unnest(${keys.map((k) => k.tenant)}::text[], ${keys.map((k) => k.deviceId)}::text[])
      as k(tenant, device_id)
    join devices d on d.tenant = k.tenant and d.device_id = k.device_id
  `.execute(db);
  return r.rows;
}

/** One device's presence write of {@link writePresenceMany}. */
export interface PresenceWrite extends PresenceKey {
  /** Row version the decision was made on. */
  version: string;
  /** New connectivity. */
  connectivity: 'online' | 'offline';
  /** New last_seen. */
  lastSeen: Date;
  /** New last presence receipt time. */
  lastPresence: Date;
  /** Firmware version after the presences. */
  firmwareVersion: string | null;
  /** Hardware model after the presences. */
  hardwareModel: string | null;
  /** Whether `updated_at` moves (connectivity, firmware or model changed). */
  touched: boolean;
  /** Its events' outbox rows, in order. */
  outbox: OutboxInsertRow[];
}

/**
 * Writes many devices' presence and enqueues their events, in one statement (one round trip,
 * one commit). A device is written only if its row is still at the version it was read at (a
 * row locked by a writer is waited for, then compared); its events go into the outbox only
 * then, in the order given. Returns the keys written (`tenant` NUL `device_id`); the others
 * changed since they were read: read and decide them again.
 */
export async function writePresenceMany(
  db: Executor,
  writes: readonly PresenceWrite[],
  now: Date,
): Promise<Set<string>> {
  if (writes.length === 0) return new Set();
  const rows = JSON.stringify(
    writes.map((w) => ({
      tenant: w.tenant,
      device_id: w.deviceId,
      version: w.version,
      connectivity: w.connectivity,
      last_seen: w.lastSeen.toISOString(),
      last_presence_ts: w.lastPresence.toISOString(),
      firmware_version: w.firmwareVersion,
      hardware_model: w.hardwareModel,
      touched: w.touched,
    })),
  );
  const events = JSON.stringify(
    writes
      .flatMap((w) => w.outbox.map((o) => ({ tenant: w.tenant, device_id: w.deviceId, ...o })))
      .map((e, n) => ({ ...e, n })),
  );
  // The `limit`s tell the planner the row counts, which it cannot know from
  // `jsonb_to_recordset` (it assumes 100): see the command gateway's compareAndMoveMany.
  const eventCount = writes.reduce((n, w) => n + w.outbox.length, 0);
  const r = await sql<{ tenant: string; device_id: string }>`
    with v as (
      select * from jsonb_to_recordset(${rows}::jsonb) as v(
        tenant text, device_id text, version text, connectivity text, last_seen timestamptz,
        last_presence_ts timestamptz, firmware_version text, hardware_model text, touched boolean
      )
      limit ${writes.length}
    ), upd as (
      update devices d set
        connectivity = v.connectivity,
        last_seen = v.last_seen,
        last_presence_ts = v.last_presence_ts,
        firmware_version = v.firmware_version,
        hardware_model = v.hardware_model,
        updated_at = case when v.touched then ${now}::timestamptz else d.updated_at end
      from v
      where d.tenant = v.tenant and d.device_id = v.device_id and d.xmin = v.version::xid
      returning d.tenant, d.device_id
    ), e as (
      select * from jsonb_to_recordset(${events}::jsonb) as e(
        n int, tenant text, device_id text, event_id text, subject text, payload text,
        headers text
      )
      limit ${eventCount}
    ), ob as (
      insert into outbox (event_id, subject, payload, headers)
      select e.event_id, e.subject, e.payload::jsonb, e.headers::jsonb
      from e join upd on upd.tenant = e.tenant and upd.device_id = e.device_id
      order by e.n
      on conflict (event_id) do nothing
    )
    select tenant, device_id from upd
  `.execute(db);
  return new Set(r.rows.map((row) => presenceKey(row.tenant, row.device_id)));
}

/** The key {@link writePresenceMany} returns for a device. */
export const presenceKey = (tenant: string, deviceId: string) => `${tenant}\u0000${deviceId}`;
