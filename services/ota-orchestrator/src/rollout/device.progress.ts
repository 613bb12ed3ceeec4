// Applies one report to one locked device row: the pure reducer, the row update and, when the
// state a user sees changed, a deployment.device_updated event in the same transaction.
import { type Transaction } from 'kysely';
import { type DB } from '../adapters/postgres/schema';
import { outboxEvents } from '../adapters/postgres/outbox';
import { applyDeviceReport, type DeviceReport, shownStatus } from '../domain/rollout-device';
import { type DeviceRow, progressColumns, progressOf } from './deployment.store';
import { deviceEvent } from './rollout.events';

const FINAL = new Set([
  'succeeded',
  'failed',
  'offline',
  'skipped',
  'rolled_back',
  'rollback_failed',
]);

/**
 * Returns true when the device's shown state changed or its rollback is to be sent again (the
 * deployment should be looked at).
 */
export async function applyToDevice(
  trx: Transaction<DB>,
  row: DeviceRow,
  report: DeviceReport,
  version: string,
  now: Date,
  presenceAt?: Date,
): Promise<boolean> {
  const before = progressOf(row);
  const after = applyDeviceReport(before, report, version);
  const shownBefore = shownStatus(before);
  const shownAfter = shownStatus(after);
  const changed = shownBefore !== shownAfter;
  const resend = after.resendRollback === true;
  await trx
    .updateTable('deployment_devices')
    .set({
      ...progressColumns(after),
      // The driver's rollback step sends rows without a rollback command id (a new key).
      ...(resend && { rollback_command_id: null, rollback_attempts: row.rollback_attempts + 1 }),
      ...(presenceAt !== undefined && { presence_at: presenceAt }),
      ...(changed && FINAL.has(shownAfter) && { finished_at: now }),
      updated_at: now,
    })
    .where('deployment_id', '=', row.deployment_id)
    .where('device_id', '=', row.device_id)
    .execute();
  if (changed) {
    await outboxEvents(trx, [
      deviceEvent(row.tenant, {
        deployment_id: row.deployment_id,
        device_id: row.device_id,
        stage: row.stage ?? 0,
        status: shownAfter as 'succeeded',
        firmware_version: version,
        ...(row.previous_version !== null && { previous_version: row.previous_version }),
        at: now.toISOString(),
        ...(after.error !== null && shownAfter !== 'succeeded' && { error: after.error }),
      }),
    ]);
  }
  return changed || resend;
}
