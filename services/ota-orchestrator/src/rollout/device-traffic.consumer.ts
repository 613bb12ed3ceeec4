// DEVICE stream consumers of the rollout engine: update_status (by deployment id) and presence
// (every deployment following the device). One durable each, filtered on the server. A malformed
// message is a permanent failure (the bus terms it with a DLQ record); a report about a
// deployment this orchestrator does not know is acknowledged and ignored.
import {
  busMessageCheckers,
  type Checker,
  deviceFilter,
  formatIssue,
  parseDeviceSubject,
  parseTimestamp,
} from '@drover/contracts';
import { type Bus, type BusMessage, consume, type Consumer } from '@drover/bus';
import { runWithContext } from '@drover/observability';
import { ValidationError } from '@drover/service-kit';
import { type Static, type TSchema } from '@sinclair/typebox';
import { type DeviceReport } from '../domain/rollout-device';
import { startCommandOutcomeConsumer } from './command-outcome.consumer';
import { applyToDevice } from './device.progress';
import { deviceRowsQuery, nudge } from './deployment.store';
import { type RolloutContext } from './rollout.context';

/** Durable names (one constants block: no scattered strings). */
export const UPDATE_STATUS_CONSUMER = 'ota-orchestrator-update-status';
/** Presence durable. */
export const PRESENCE_CONSUMER = 'ota-orchestrator-presence';

function decode<S extends TSchema>(
  bus: Bus,
  msg: BusMessage,
  checker: Checker<S>,
): { tenant: string; deviceId: string; body: Static<S> } {
  const subject = parseDeviceSubject(bus.naming, msg.subject);
  if (subject === null) throw new ValidationError('bad_subject', `bad subject ${msg.subject}`);
  let body: unknown;
  try {
    body = msg.json();
  } catch (err) {
    throw new ValidationError('bad_json', `payload is not JSON: ${(err as Error).message}`);
  }
  if (!checker.check(body)) {
    const issue = checker.firstError(body);
    throw new ValidationError('schema', issue ? formatIssue(issue) : 'invalid message');
  }
  const b = body as { tenant: string; device_id: string };
  if (b.tenant !== subject.tenant || b.device_id !== subject.deviceId) {
    throw new ValidationError('subject_mismatch', 'body tenant/device_id differ from subject');
  }
  return { tenant: subject.tenant, deviceId: subject.deviceId, body: body as Static<S> };
}

/** Applies an update_status report to the deployment it names. */
export async function handleUpdateStatus(
  ctx: RolloutContext,
  m: { tenant: string; deviceId: string; deploymentId: string; state: string; error?: string },
): Promise<void> {
  const now = ctx.now();
  const changed = await ctx.db.transaction().execute(async (trx) => {
    const row = await deviceRowsQuery(trx, m.tenant, m.deviceId)
      .where('deployment_devices.deployment_id', '=', m.deploymentId)
      .forUpdate('deployment_devices')
      .executeTakeFirst();
    if (row === undefined) return false;
    const report: DeviceReport = {
      kind: 'update_status',
      state: m.state,
      ...(m.error !== undefined && { error: m.error }),
    };
    return applyToDevice(trx, row, report, row.version, now);
  });
  if (changed) {
    // After the device's transaction: locks are always taken deployment first, device second.
    await nudge(ctx.db, m.deploymentId, now);
    ctx.notifyOutbox();
    ctx.hint();
  }
}

/** Applies a presence change to every deployment following the device. */
export async function handlePresence(
  ctx: RolloutContext,
  m: { tenant: string; deviceId: string; online: boolean; firmwareVersion?: string; at: Date },
): Promise<void> {
  const now = ctx.now();
  const changed = await ctx.db.transaction().execute(async (trx) => {
    const rows = await deviceRowsQuery(trx, m.tenant, m.deviceId)
      .where((eb) =>
        eb.or([
          eb('deployment_devices.status', 'in', ['updating', 'offline']),
          eb('deployment_devices.rollback_status', '=', 'rolling_back'),
        ]),
      )
      .forUpdate('deployment_devices')
      .execute();
    const touched: string[] = [];
    for (const row of rows) {
      // Presence is handled concurrently: an older message must not undo a newer one.
      if (row.presence_at !== null && row.presence_at > m.at) continue;
      const report: DeviceReport = {
        kind: 'presence',
        online: m.online,
        ...(m.firmwareVersion !== undefined && { firmwareVersion: m.firmwareVersion }),
      };
      if (await applyToDevice(trx, row, report, row.version, now, m.at)) {
        touched.push(row.deployment_id);
      }
    }
    return touched;
  });
  if (changed.length > 0) {
    for (const id of changed) await nudge(ctx.db, id, now);
    ctx.notifyOutbox();
    ctx.hint();
  }
}

/**
 * Starts the DEVICE consumers and the command outcomes' (command-outcome.consumer.ts);
 * `stop()` on each drains its in-flight handlers.
 */
export async function startRolloutConsumers(
  bus: Bus,
  ctx: RolloutContext,
  concurrency: number,
): Promise<Consumer[]> {
  const { logger } = ctx;
  const updates = await consume(bus, {
    stream: 'DEVICE',
    durable: UPDATE_STATUS_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'update_status')],
    concurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.UpdateStatusMessage);
      await runWithContext({ tenant, deviceId }, () =>
        handleUpdateStatus(ctx, {
          tenant,
          deviceId,
          deploymentId: body.deployment_id,
          state: body.state,
          ...(body.error !== undefined && { error: body.error }),
        }),
      );
    },
  });
  const presence = await consume(bus, {
    stream: 'DEVICE',
    durable: PRESENCE_CONSUMER,
    filterSubjects: [deviceFilter(bus.naming, 'presence')],
    concurrency,
    logger,
    handler: async (msg) => {
      const { tenant, deviceId, body } = decode(bus, msg, busMessageCheckers.PresenceMessage);
      const at = parseTimestamp(body.received_at);
      if (at === null) throw new ValidationError('bad_timestamp', 'no usable received_at');
      await runWithContext({ tenant, deviceId }, () =>
        handlePresence(ctx, {
          tenant,
          deviceId,
          online: body.state === 'online',
          ...(body.firmware_version !== undefined && { firmwareVersion: body.firmware_version }),
          at: new Date(at),
        }),
      );
    },
  });
  const outcomes = await startCommandOutcomeConsumer(bus, ctx, concurrency);
  return [updates, presence, outcomes];
}
