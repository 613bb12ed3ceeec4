// Desired/reported state persistence (one row per device, created with the device).
import { type DeviceStateRow } from './device.table';
import { type Executor } from './schema';

/** Creates the empty state row of a new device. */
export async function insertState(db: Executor, tenant: string, deviceId: string): Promise<void> {
  await db
    .insertInto('device_state')
    .values({
      tenant,
      device_id: deviceId,
      desired: '{}',
      reported: '{}',
      desired_version: 0,
      reported_version: 0,
    })
    .execute();
}

/** The state row, optionally locked (versions are read-modify-write). */
export async function findState(
  db: Executor,
  tenant: string,
  deviceId: string,
  opts: { forUpdate?: boolean } = {},
): Promise<DeviceStateRow | undefined> {
  let q = db
    .selectFrom('device_state')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId);
  if (opts.forUpdate) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Writes the desired side. */
export async function saveDesired(
  db: Executor,
  key: { tenant: string; deviceId: string },
  desired: { state: Record<string, unknown>; version: number; at: Date },
): Promise<DeviceStateRow> {
  return db
    .updateTable('device_state')
    .set({
      desired: JSON.stringify(desired.state),
      desired_version: desired.version,
      desired_updated_at: desired.at,
    })
    .where('tenant', '=', key.tenant)
    .where('device_id', '=', key.deviceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}

/** Writes the reported side. */
export async function saveReported(
  db: Executor,
  key: { tenant: string; deviceId: string },
  reported: { state: Record<string, unknown>; version: number; at: Date },
): Promise<DeviceStateRow> {
  return db
    .updateTable('device_state')
    .set({
      reported: JSON.stringify(reported.state),
      reported_version: reported.version,
      reported_updated_at: reported.at,
    })
    .where('tenant', '=', key.tenant)
    .where('device_id', '=', key.deviceId)
    .returningAll()
    .executeTakeFirstOrThrow();
}
