// Revocation and the CRL: every revocation regenerates the CRL in the same transaction (the
// crl_state row lock orders concurrent writers, so the file never goes back in time) and marks
// the certificate in the cloud.
import { CertificateRevokedV1, type CloudEvent } from '@drover/contracts';
import { createCrl, type RevocationReason } from '@drover/pki';
import * as certificates from '../adapters/postgres/certificate.repository';
import { type CertificateRow, type Executor } from '../adapters/postgres/schema';
import { event } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';

/** Why a certificate is revoked. */
export type RevokeReason = 'superseded' | 'decommissioned' | 'requested';

const CRL_REASONS: Record<RevokeReason, RevocationReason> = {
  superseded: 'superseded',
  decommissioned: 'cessationOfOperation',
  requested: 'unspecified',
};

const DAY_MS = 86_400_000;

/** Regenerates the CRL from every revoked, unexpired certificate and writes it. */
export async function regenerateCrl(ctx: ProvisioningContext, trx: Executor): Promise<number> {
  const crlNumber = await certificates.nextCrlNumber(trx);
  const now = ctx.now();
  const revoked = await certificates.listRevokedForCrl(trx, now);
  const pem = await createCrl(
    ctx.pki.fleet,
    revoked.map((r) => ({
      serial: r.serial,
      revokedAt: new Date(r.revoked_at!),
      reason: CRL_REASONS[r.revocation_reason as RevokeReason] ?? 'unspecified',
    })),
    {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + ctx.settings.crlValidityDays * DAY_MS),
      crlNumber,
    },
  );
  await ctx.writeCrl(pem);
  return revoked.length;
}

/**
 * Revokes serials (or all) of a device inside `trx`: rows, cloud, CRL. Returns the revoked rows
 * and their events (the caller enqueues them in the same transaction).
 */
export async function revokeInTransaction(
  ctx: ProvisioningContext,
  trx: Executor,
  identity: { tenant: string; deviceId: string; deviceType: string },
  serials: readonly string[] | 'all',
  reason: RevokeReason,
): Promise<{ rows: CertificateRow[]; events: CloudEvent<unknown>[] }> {
  const now = ctx.now();
  const rows = await certificates.revokeSerials(
    trx,
    identity.tenant,
    identity.deviceId,
    serials,
    reason,
    now,
  );
  if (rows.length === 0) return { rows, events: [] };
  for (const row of rows) {
    if (row.cloud_certificate_id !== null) {
      await ctx.cloud.revoke(identity, row.cloud_certificate_id, reason !== 'superseded');
    }
  }
  await regenerateCrl(ctx, trx);
  const events = rows.map((row) =>
    event(
      CertificateRevokedV1,
      identity.tenant,
      identity.deviceId,
      { device_id: identity.deviceId, serial: row.serial, reason, revoked_at: now.toISOString() },
      now,
    ),
  );
  ctx.logger.info(
    { event: 'certificate.revoked', device_id: identity.deviceId, count: rows.length, reason },
    'certificates revoked',
  );
  return { rows, events };
}
