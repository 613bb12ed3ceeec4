// Certificate lifecycle use cases behind the RPC: read, rotate (ask the device), revoke.
import { commandSubject, type DeviceCertificate, type CloudEvent } from '@drover/contracts';
import { notFound } from '../domain/errors';
import * as identities from '../adapters/postgres/identity.repository';
import * as certificates from '../adapters/postgres/certificate.repository';
import { outboxEvents, outboxMessages } from '../adapters/postgres/outbox';
import { type CertificateRow, type Executor, type IdentityRow } from '../adapters/postgres/schema';
import { ROTATE_COMMAND } from '../adapters/nats/command.requester';
import { newMsgId } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';
import { revokeInTransaction } from './revocation.service';

function toDeviceCertificate(row: CertificateRow): DeviceCertificate {
  return {
    device_id: row.device_id,
    serial: row.serial,
    fingerprint_sha256: row.fingerprint_sha256,
    status: row.status,
    not_before: new Date(row.not_before).toISOString(),
    not_after: new Date(row.not_after).toISOString(),
    revoked_at: row.revoked_at === null ? null : new Date(row.revoked_at).toISOString(),
  };
}

async function requireIdentity(
  db: Executor,
  tenant: string,
  deviceId: string,
  lock = false,
): Promise<IdentityRow> {
  const identity = await identities.findIdentity(db, tenant, deviceId, lock);
  if (identity === undefined)
    throw notFound('device_not_found', `no provisioned device ${deviceId}`);
  return identity;
}

/** `get_certificate` */
export async function getCertificate(
  ctx: ProvisioningContext,
  req: { tenant: string; device_id: string },
) {
  await requireIdentity(ctx.db, req.tenant, req.device_id);
  const rows = await certificates.listDeviceCertificates(ctx.db, req.tenant, req.device_id);
  const current = rows.find((r) => r.status === 'active');
  return {
    device_id: req.device_id,
    current: current === undefined ? null : toDeviceCertificate(current),
    certificates: rows.map(toDeviceCertificate),
  };
}

/**
 * Enqueues a `certificate.rotate` command straight on the device's command subject (COMMANDS;
 * the ingress delivers it): the fallback when no command-gateway answers.
 */
export async function enqueueRotateCommand(
  ctx: ProvisioningContext,
  trx: Executor,
  tenant: string,
  deviceId: string,
): Promise<string> {
  const now = ctx.now();
  const msgId = newMsgId();
  await outboxMessages(trx, [
    {
      subject: commandSubject(ctx.naming, tenant, deviceId),
      msgId,
      payload: {
        msg_id: msgId,
        ts: now.toISOString(),
        schema_version: 1,
        command: { name: ROTATE_COMMAND, params: {} },
        expires_at: new Date(now.getTime() + ctx.settings.rotateCommandTtlMs).toISOString(),
      },
    },
  ]);
  return msgId;
}

/** `rotate_certificate`: the command goes through the command-gateway when it answers. */
export async function rotateCertificate(
  ctx: ProvisioningContext,
  req: { tenant: string; device_id: string },
) {
  const identity = await requireIdentity(ctx.db, req.tenant, req.device_id);
  if (identity.decommissioned_at !== null) {
    throw notFound('device_not_found', `device ${req.device_id} is decommissioned`);
  }
  const now = ctx.now();
  const commandId = await ctx.commands.requestRotate(
    req.tenant,
    req.device_id,
    `rotate-${req.device_id}-${now.getTime()}`,
  );
  await identities.markRotateRequested(ctx.db, req.tenant, req.device_id, now);
  return { device_id: req.device_id, command_id: commandId, status: 'requested' as const };
}

/** `revoke_certificate`: one serial, or every unrevoked certificate of the device. */
export async function revokeCertificate(
  ctx: ProvisioningContext,
  req: { tenant: string; device_id: string; serial?: string },
) {
  const revoked = await ctx.db.transaction().execute(async (trx) => {
    const identity = await requireIdentity(trx, req.tenant, req.device_id, true);
    if (req.serial !== undefined) {
      const rows = await certificates.listDeviceCertificates(trx, req.tenant, req.device_id);
      if (!rows.some((r) => r.serial === req.serial)) {
        throw notFound('certificate_not_found', `no certificate ${req.serial} for the device`);
      }
    }
    const { rows, events } = await revokeInTransaction(
      ctx,
      trx,
      { tenant: identity.tenant, deviceId: identity.device_id, deviceType: identity.device_type },
      req.serial === undefined ? 'all' : [req.serial],
      'requested',
    );
    await outboxEvents(trx, events);
    return rows;
  });
  ctx.notifyOutbox();
  return { device_id: req.device_id, revoked_serials: revoked.map((r) => r.serial) };
}

/** `device.decommissioned`: revoke everything, delete the cloud identity. Idempotent. */
export async function handleDecommissioned(
  ctx: ProvisioningContext,
  tenant: string,
  deviceId: string,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const identity = await identities.findIdentity(trx, tenant, deviceId, true);
    // A device registered by hand has no identity here: nothing to revoke.
    if (identity === undefined) return;
    const cloudIds = (await certificates.listDeviceCertificates(trx, tenant, deviceId))
      .map((r) => r.cloud_certificate_id)
      .filter((id): id is string => id !== null);
    const cloudIdentity = { tenant, deviceId, deviceType: identity.device_type };
    const { events } = await revokeInTransaction(ctx, trx, cloudIdentity, 'all', 'decommissioned');
    await identities.markDecommissioned(trx, tenant, deviceId, ctx.now());
    if (identity.decommissioned_at === null) await ctx.cloud.delete(cloudIdentity, cloudIds);
    await outboxEvents(trx, events as CloudEvent<unknown>[]);
  });
  ctx.notifyOutbox();
}

/** `list_expiring`: by default the offline devices the scan could not ask to rotate. */
export async function listExpiringCertificates(
  ctx: ProvisioningContext,
  req: { tenant: string; within_days?: number; only_offline?: boolean; limit?: number },
) {
  const days = req.within_days ?? ctx.settings.renewBeforeDays;
  const rows = await certificates.listExpiring(ctx.db, {
    tenant: req.tenant,
    before: new Date(ctx.now().getTime() + days * 86_400_000),
    limit: req.limit ?? 500,
  });
  const onlyOffline = req.only_offline ?? true;
  return {
    items: rows
      .filter((r) => !onlyOffline || !r.online)
      .map((r) => ({
        device_id: r.device_id,
        serial: r.serial,
        not_after: new Date(r.not_after).toISOString(),
        online: r.online,
      })),
  };
}
