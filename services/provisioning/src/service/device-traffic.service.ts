// What devices tell the service through the ingress: renewal CSRs (`cert_renew`) and presence.
// Renewal answers go back through the ingress on `iot.device.<t>.cert_renew_res.<id>`.
import { type CertRenewMessage, type CertRenewResponse, deviceSubject } from '@drover/contracts';
import { checkCsrCommonName, type CsrInfo, PkiError } from '@drover/pki';
import { DomainError } from '@drover/service-kit';
import { supersededToRevoke } from '../domain/certificate.lifecycle';
import * as identities from '../adapters/postgres/identity.repository';
import * as certificates from '../adapters/postgres/certificate.repository';
import { outboxEvents, outboxMessages } from '../adapters/postgres/outbox';
import { findResult, saveResult } from '../adapters/postgres/request-result.repository';
import { type Executor } from '../adapters/postgres/schema';
import { refused } from '../domain/errors';
import { issueDeviceCertificate } from './certificate.issuer';
import { newMsgId } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';
import { revokeInTransaction } from './revocation.service';

async function answer(
  ctx: ProvisioningContext,
  trx: Executor,
  msg: { tenant: string; device_type: string; device_id: string },
  response: CertRenewResponse,
  resultKey: string,
): Promise<void> {
  await saveResult(trx, resultKey, response, ctx.resultCipher);
  await outboxMessages(trx, [
    {
      subject: deviceSubject(ctx.naming, 'cert_renew_res', msg.tenant, msg.device_id),
      msgId: `renew-res-${response.msg_id}`,
      payload: {
        tenant: msg.tenant,
        device_type: msg.device_type,
        device_id: msg.device_id,
        response,
      },
    },
  ]);
}

/**
 * A renewal CSR from a device: new certificate (CN = device id), the old one superseded and
 * still valid until the device shows it uses the new one. Refusals are answered to the device
 * (`status: error`), not dead-lettered; a retried msg_id gets the same answer again.
 */
export async function handleRenewal(
  ctx: ProvisioningContext,
  msg: CertRenewMessage,
): Promise<void> {
  const resultKey = `renew:${msg.tenant}:${msg.device_id}:${msg.msg_id}`;
  await ctx.db.transaction().execute(async (trx) => {
    const prior = await findResult(trx, resultKey, ctx.resultCipher);
    const base = { msg_id: newMsgId(), ts: ctx.now().toISOString(), schema_version: 1 as const };
    if (prior !== undefined) {
      // The device asked again (it may have missed the answer): the same answer, sent anew
      // (a fresh bus id: the first one is taken in the outbox and the stream's dedup window).
      await outboxMessages(trx, [
        {
          subject: deviceSubject(ctx.naming, 'cert_renew_res', msg.tenant, msg.device_id),
          msgId: `renew-res-${(prior as CertRenewResponse).msg_id}-${newMsgId()}`,
          payload: {
            tenant: msg.tenant,
            device_type: msg.device_type,
            device_id: msg.device_id,
            response: prior,
          },
        },
      ]);
      return;
    }
    let response: CertRenewResponse;
    try {
      const identity = await identities.findIdentity(trx, msg.tenant, msg.device_id, true);
      if (identity === undefined || identity.decommissioned_at !== null) {
        throw refused('not_provisioned', 'the device is not provisioned or decommissioned');
      }
      let csr: CsrInfo;
      try {
        csr = await checkCsrCommonName(msg.csr, msg.device_id);
      } catch (err) {
        if (err instanceof PkiError) throw refused('bad_csr', err.message);
        throw err;
      }
      const issued = await issueDeviceCertificate(
        ctx,
        trx,
        { tenant: msg.tenant, deviceId: msg.device_id, deviceType: identity.device_type },
        { csrPem: msg.csr, csr },
        'renewal',
      );
      await outboxEvents(trx, issued.events);
      response = {
        ...base,
        request_id: msg.msg_id,
        status: 'ok',
        certificate: issued.row.certificate_pem,
        ca_chain: ctx.pki.fleet.chainPems.join(''),
      };
    } catch (err) {
      if (!(err instanceof DomainError) || err.status >= 500) throw err;
      response = {
        ...base,
        request_id: msg.msg_id,
        status: 'error',
        error: { code: err.code, detail: err.detail },
      };
    }
    await answer(ctx, trx, msg, response, resultKey);
  });
  ctx.notifyOutbox();
}

/**
 * Presence: keeps connectivity for the expiry scan and, on `online`, revokes superseded
 * certificates once the connection shows the new one is in use (see docs: an `online` status
 * after the renewal was issued, or a `cert_serial` in the presence when the broker can tell).
 */
export async function handlePresence(
  ctx: ProvisioningContext,
  msg: { tenant: string; device_id: string; state: 'online' | 'offline'; cert_serial?: string },
  atMs: number,
): Promise<void> {
  let revoked = false;
  await ctx.db.transaction().execute(async (trx) => {
    const at = new Date(atMs);
    const applied = await identities.applyPresence(
      trx,
      msg.tenant,
      msg.device_id,
      msg.state === 'online',
      at,
    );
    if (!applied || msg.state !== 'online') return;
    const identity = (await identities.findIdentity(trx, msg.tenant, msg.device_id, true))!;
    const rows = await certificates.listDeviceCertificates(trx, msg.tenant, msg.device_id);
    const serials = supersededToRevoke(
      rows.map((r) => ({
        serial: r.serial,
        status: r.status,
        issuedAtMs: new Date(r.issued_at).getTime(),
      })),
      { connectedAtMs: atMs, certSerial: msg.cert_serial },
    );
    if (serials.length === 0) return;
    const { events } = await revokeInTransaction(
      ctx,
      trx,
      { tenant: msg.tenant, deviceId: msg.device_id, deviceType: identity.device_type },
      serials,
      'superseded',
    );
    await outboxEvents(trx, events);
    revoked = true;
  });
  if (revoked) ctx.notifyOutbox();
}
