// Certificates of devices: issue, supersede, revoke, list, and the expiry scan's query.
import { sql } from 'kysely';
import { type CertificateRow, type Executor, type NewCertificate } from './schema';

/** Inserts a certificate. */
export async function insertCertificate(db: Executor, row: NewCertificate): Promise<void> {
  await db.insertInto('certificates').values(row).execute();
}

/** A device's certificates, newest first. */
export async function listDeviceCertificates(
  db: Executor,
  tenant: string,
  deviceId: string,
): Promise<CertificateRow[]> {
  return db
    .selectFrom('certificates')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .orderBy('issued_at', 'desc')
    .orderBy('serial')
    .execute();
}

/** Turns the device's active certificate into a superseded one; returns it, if any. */
export async function supersedeActive(
  db: Executor,
  tenant: string,
  deviceId: string,
  at: Date,
): Promise<CertificateRow | undefined> {
  return db
    .updateTable('certificates')
    .set({ status: 'superseded', superseded_at: at })
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .where('status', '=', 'active')
    .returningAll()
    .executeTakeFirst();
}

/** Revokes the given serials of a device that are not revoked yet; returns those revoked. */
export async function revokeSerials(
  db: Executor,
  tenant: string,
  deviceId: string,
  serials: readonly string[] | 'all',
  reason: string,
  at: Date,
): Promise<CertificateRow[]> {
  let q = db
    .updateTable('certificates')
    .set({ status: 'revoked', revoked_at: at, revocation_reason: reason })
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .where('status', '!=', 'revoked');
  if (serials !== 'all') {
    if (serials.length === 0) return [];
    q = q.where('serial', 'in', serials);
  }
  return q.returningAll().execute();
}

/** Every revoked certificate not yet expired (the CRL's entries). */
export async function listRevokedForCrl(
  db: Executor,
  now: Date,
): Promise<Pick<CertificateRow, 'serial' | 'revoked_at' | 'revocation_reason'>[]> {
  return db
    .selectFrom('certificates')
    .select(['serial', 'revoked_at', 'revocation_reason'])
    .where('status', '=', 'revoked')
    .where('not_after', '>', now)
    .orderBy('serial')
    .execute();
}

/** An active certificate due for renewal, with its device's connectivity. */
export interface ExpiringRow {
  /** Tenant. */
  tenant: string;
  /** Device. */
  device_id: string;
  /** Serial. */
  serial: string;
  /** Expiry. */
  not_after: Date;
  /** Connectivity. */
  online: boolean;
  /** Last rotation request. */
  rotate_requested_at: Date | null;
}

/** Active certificates of live devices expiring before `before`, optionally for one tenant. */
export async function listExpiring(
  db: Executor,
  q: { before: Date; tenant?: string | undefined; limit: number },
): Promise<ExpiringRow[]> {
  let query = db
    .selectFrom('certificates as c')
    .innerJoin('identities as i', (j) =>
      j.onRef('i.tenant', '=', 'c.tenant').onRef('i.device_id', '=', 'c.device_id'),
    )
    .select([
      'c.tenant',
      'c.device_id',
      'c.serial',
      'c.not_after',
      'i.online',
      'i.rotate_requested_at',
    ])
    .where('c.status', '=', 'active')
    .where('i.decommissioned_at', 'is', null)
    .where('c.not_after', '<=', q.before);
  if (q.tenant !== undefined) query = query.where('c.tenant', '=', q.tenant);
  return query.orderBy('c.not_after').limit(q.limit).execute();
}

/** Takes the CRL row lock and the next CRL number. */
export async function nextCrlNumber(db: Executor): Promise<number> {
  const row = await db
    .updateTable('crl_state')
    .set({ crl_number: sql`crl_number + 1` })
    .where('id', '=', 1)
    .returning('crl_number')
    .executeTakeFirstOrThrow();
  return Number(row.crl_number);
}
