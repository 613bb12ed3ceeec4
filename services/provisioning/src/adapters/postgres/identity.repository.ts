// Provisioned identities: hardware key → device id, plus what the lifecycle needs to know.
import { type Executor, type IdentityRow } from './schema';

/** The identity of a hardware key, row-locked for the rest of the transaction. */
export async function lockIdentityByHardware(
  db: Executor,
  hardwareKey: string,
): Promise<IdentityRow | undefined> {
  return db
    .selectFrom('identities')
    .selectAll()
    .where('hardware_key', '=', hardwareKey)
    .forUpdate()
    .executeTakeFirst();
}

/** The identity of a device, optionally row-locked. */
export async function findIdentity(
  db: Executor,
  tenant: string,
  deviceId: string,
  lock = false,
): Promise<IdentityRow | undefined> {
  let q = db
    .selectFrom('identities')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** Inserts a new identity. */
export async function insertIdentity(
  db: Executor,
  row: Pick<
    IdentityRow,
    'hardware_key' | 'tenant' | 'device_id' | 'device_type' | 'enrollment_id' | 'hardware_model'
  >,
): Promise<void> {
  await db.insertInto('identities').values(row).execute();
}

/** Applies a presence unless an equal or newer one was applied already; true if applied. */
export async function applyPresence(
  db: Executor,
  tenant: string,
  deviceId: string,
  online: boolean,
  at: Date,
): Promise<boolean> {
  const r = await db
    .updateTable('identities')
    .set({ online, last_presence_at: at })
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .where((eb) => eb.or([eb('last_presence_at', 'is', null), eb('last_presence_at', '<', at)]))
    .executeTakeFirst();
  return r.numUpdatedRows > 0n;
}

/** Records that a rotation was requested. */
export async function markRotateRequested(
  db: Executor,
  tenant: string,
  deviceId: string,
  at: Date,
): Promise<void> {
  await db
    .updateTable('identities')
    .set({ rotate_requested_at: at })
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .execute();
}

/** Marks a device decommissioned. */
export async function markDecommissioned(
  db: Executor,
  tenant: string,
  deviceId: string,
  at: Date,
): Promise<void> {
  await db
    .updateTable('identities')
    .set({ decommissioned_at: at, online: false })
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .execute();
}
