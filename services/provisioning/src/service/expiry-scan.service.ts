// The daily expiry scan: one replica at a time (timer row, FOR UPDATE SKIP LOCKED). It emits
// `certificate.expiring` for every active certificate in the renewal window, sends
// `certificate.rotate` to the online devices, refreshes the CRL (its nextUpdate) and purges
// old request answers. Offline devices are what `list_expiring` lists.
import { CertificateExpiringV1 } from '@drover/contracts';
import { expiryAction, nextRunAt } from '../domain/certificate.lifecycle';
import * as certificates from '../adapters/postgres/certificate.repository';
import { outboxEvents } from '../adapters/postgres/outbox';
import { purgeResults } from '../adapters/postgres/request-result.repository';
import { claimDueTimer, scheduleTimer } from '../adapters/postgres/timer.repository';
import { markRotateRequested } from '../adapters/postgres/identity.repository';
import { event } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';
import { regenerateCrl } from './revocation.service';

/** The timer row's name. */
export const EXPIRY_SCAN_TIMER = 'expiry_scan';

/** What one scan did. */
export interface ScanReport {
  /** Whether this replica ran it (false: not due, or another replica holds it). */
  ran: boolean;
  /** Certificates in the window. */
  expiring: number;
  /** Rotation commands sent. */
  rotationsRequested: number;
  /** Devices offline with an expiring certificate. */
  offline: number;
}

const BATCH = 5000;

/** Runs the scan if it is due; `intervalMs` sets the next run. */
export async function runExpiryScanIfDue(
  ctx: ProvisioningContext,
  intervalMs: number,
): Promise<ScanReport> {
  const report: ScanReport = { ran: false, expiring: 0, rotationsRequested: 0, offline: 0 };
  const rotations: { tenant: string; deviceId: string; key: string }[] = [];
  await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.now();
    if (!(await claimDueTimer(trx, EXPIRY_SCAN_TIMER, now))) return;
    report.ran = true;
    const { renewBeforeDays, rotateRetryMs } = ctx.settings;
    const rows = await certificates.listExpiring(trx, {
      before: new Date(now.getTime() + renewBeforeDays * 86_400_000),
      limit: BATCH,
    });
    const events = [];
    for (const row of rows) {
      const verdict = expiryAction({
        notAfterMs: new Date(row.not_after).getTime(),
        nowMs: now.getTime(),
        renewBeforeDays,
        online: row.online,
        rotateRequestedAtMs:
          row.rotate_requested_at === null ? null : new Date(row.rotate_requested_at).getTime(),
        rotateRetryMs,
      });
      report.expiring += 1;
      if (verdict.action === 'offline') report.offline += 1;
      if (verdict.action === 'rotate') {
        await markRotateRequested(trx, row.tenant, row.device_id, now);
        // One command per certificate and day, whichever replica or retry sends it.
        const day = now.toISOString().slice(0, 10);
        rotations.push({
          tenant: row.tenant,
          deviceId: row.device_id,
          key: `rotate-${row.serial}-${day}`,
        });
        report.rotationsRequested += 1;
      }
      events.push(
        event(
          CertificateExpiringV1,
          row.tenant,
          row.device_id,
          {
            device_id: row.device_id,
            serial: row.serial,
            not_after: new Date(row.not_after).toISOString(),
            days_left: verdict.daysLeft,
            rotation_requested: verdict.action === 'rotate',
          },
          now,
        ),
      );
    }
    await outboxEvents(trx, events);
    await regenerateCrl(ctx, trx);
    await purgeResults(trx, new Date(now.getTime() - ctx.settings.resultRetentionMs));
    await scheduleTimer(
      trx,
      EXPIRY_SCAN_TIMER,
      new Date(nextRunAt(now.getTime(), intervalMs)),
      now,
    );
  });
  // After the commit: the command-gateway is another service (no shared transaction).
  for (const r of rotations) {
    await ctx.commands
      .requestRotate(r.tenant, r.deviceId, r.key)
      .catch((err: unknown) =>
        ctx.logger.warn(
          { event: 'certificate.rotate_request_failed', device_id: r.deviceId, err: String(err) },
          'rotation request failed; the next scan asks again',
        ),
      );
  }
  if (report.ran) {
    ctx.notifyOutbox();
    ctx.logger.info({ event: 'certificate.expiry_scan', ...report }, 'expiry scan done');
  }
  return report;
}
