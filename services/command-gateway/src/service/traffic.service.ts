// What devices and the ingress report: answers (`cmd_res`), broker acks (`cmd_sent`),
// presence, and commands the ingress gave up on (its DLQ). Each runs in one transaction on a
// locked row; a report about a command we do not know is refused (the bus DLQs it).
import { eventMessages, outboxRows } from '@drover/bus';
import { UnavailableError, ValidationError } from '@drover/service-kit';
import { applyAnswer, applySignal, type DeviceAnswer } from '../domain/command-state';
import {
  compareAndMove,
  findCommand,
  findVersioned,
  lockWaitingForDevice,
} from '../adapters/postgres/command.repository';
import { upsertPresence } from '../adapters/postgres/presence.repository';
import { type CommandRow } from '../adapters/postgres/command.table';
import { type Executor } from '../adapters/postgres/schema';
import { type GatewayContext } from './gateway.context';
import { countMove, dispatch, moveTo, movePatch, planMove } from './transition.service';

/** What a handler did (metrics, logs, tests). */
export type ReportOutcome = 'applied' | 'duplicate' | 'late' | 'stale';

type ReportKind = 'cmd_res' | 'cmd_sent' | 'dlq';

async function lockKnown(
  trx: Executor,
  ctx: GatewayContext,
  kind: ReportKind,
  tenant: string,
  deviceId: string,
  commandId: string,
): Promise<CommandRow> {
  const row = await findCommand(trx, tenant, commandId, true);
  if (row === undefined || row.device_id !== deviceId) {
    ctx.metrics.refused.inc({ kind, reason: 'unknown_command' });
    throw new ValidationError('unknown_command', `no command ${commandId} for ${deviceId}`);
  }
  return row;
}

function finish(ctx: GatewayContext, kind: ReportKind, outcome: ReportOutcome): ReportOutcome {
  if (outcome !== 'applied') ctx.metrics.ignored.inc({ kind, reason: outcome });
  else ctx.notifyOutbox();
  return outcome;
}

// A report reads the row without a lock and writes its move only if the row is unchanged
// (compare-and-set on the row version, row and event in one statement): two round trips, no
// connection held across them or while another transaction holds the row. Losing a race (the
// scanner, the other report) means reading again after a short pause; past MAX_RACES the
// message is retried by the bus.
const MAX_RACES = 40;
const racePauseMs = (race: number) => Math.min(5 * 2 ** race, 100);

async function applyReport(
  ctx: GatewayContext,
  kind: ReportKind,
  r: { tenant: string; deviceId: string; cmdId: string },
  decide: (
    row: CommandRow,
    now: Date,
  ) =>
    | { ignore: ReportOutcome }
    | {
        to: Parameters<typeof planMove>[1];
        patch: Parameters<typeof planMove>[3];
        row?: CommandRow;
      },
): Promise<ReportOutcome> {
  for (let race = 0; race < MAX_RACES; race++) {
    const read = await findVersioned(ctx.db, r.tenant, r.cmdId);
    if (read === undefined || read.device_id !== r.deviceId) {
      ctx.metrics.refused.inc({ kind, reason: 'unknown_command' });
      throw new ValidationError('unknown_command', `no command ${r.cmdId} for ${r.deviceId}`);
    }
    const { row_version: version, ...row } = read;
    const now = ctx.now();
    const d = decide(row, now);
    if ('ignore' in d) return d.ignore;
    const base = d.row ?? row;
    const m = planMove(base, d.to, now, d.patch);
    const written = await compareAndMove(
      ctx.db,
      row.command_id,
      version,
      movePatch(m.next),
      outboxRows(eventMessages([m.event])),
    );
    if (written) {
      countMove(ctx, base, m, now);
      return 'applied';
    }
    await new Promise((resolve) => setTimeout(resolve, racePauseMs(race)));
  }
  throw new UnavailableError('command_contended', `command ${r.cmdId} kept changing`);
}

/** A device answer on `cmd/res`. */
export async function handleAnswer(
  ctx: GatewayContext,
  a: {
    tenant: string;
    deviceId: string;
    cmdId: string;
    status: DeviceAnswer;
    result?: Record<string, unknown>;
    error?: string;
  },
): Promise<ReportOutcome> {
  const outcome = await applyReport(ctx, 'cmd_res', a, (row, now) => {
    const t = applyAnswer(row.status, a.status);
    if (t.kind === 'ignore') return { ignore: t.reason };
    return {
      to: t.to,
      row: { ...row, answered: true },
      patch: {
        ...(a.result !== undefined && { result: a.result }),
        ...(a.error !== undefined && { error: a.error }),
        // An accepted command keeps its deadline; one answered before it was dispatched has none.
        ...(row.deadline_at === null && {
          deadline_at: new Date(now.getTime() + row.timeout_s * 1000),
        }),
      },
    };
  });
  return finish(ctx, 'cmd_res', outcome);
}

/** The ingress's report that the broker acknowledged the command (PUBACK). */
export async function handleSent(
  ctx: GatewayContext,
  s: { tenant: string; deviceId: string; cmdId: string; sentAt: Date },
): Promise<ReportOutcome> {
  let deadline: Date | null = null;
  const outcome = await applyReport(ctx, 'cmd_sent', s, (row) => {
    const t = applySignal(row.status, 'broker_acked');
    if (t.kind === 'ignore') return { ignore: t.reason };
    // The time-out runs from sending: no earlier than timeout_s after the broker had it.
    deadline = new Date(s.sentAt.getTime() + row.timeout_s * 1000);
    return { to: t.to, patch: { sent_at: s.sentAt, deadline_at: deadline } };
  });
  if (outcome === 'applied' && deadline !== null) ctx.hint(deadline);
  return finish(ctx, 'cmd_sent', outcome);
}

/** The ingress could not hand the command to the broker after its capped retries. */
export async function handleDeadLetter(
  ctx: GatewayContext,
  d: { tenant: string; deviceId: string; cmdId: string; reason: string },
): Promise<ReportOutcome> {
  const outcome = await ctx.db.transaction().execute(async (trx) => {
    const row = await lockKnown(trx, ctx, 'dlq', d.tenant, d.deviceId, d.cmdId);
    const t = applySignal(row.status, 'dead_lettered');
    if (t.kind === 'ignore') return t.reason;
    await moveTo(trx, ctx, row, t.to, ctx.now(), { error: d.reason.slice(0, 4096) });
    return 'applied' as const;
  });
  return finish(ctx, 'dlq', outcome);
}

/** Presence: stores it, and on `online` releases the device's waiting commands in order. */
export async function handlePresence(
  ctx: GatewayContext,
  p: { tenant: string; deviceId: string; online: boolean; ts: Date },
): Promise<'stored' | 'stale'> {
  const stored = await upsertPresence(ctx.db, p);
  if (!stored) return 'stale';
  if (p.online) await releaseDevice(ctx, p.tenant, p.deviceId);
  return 'stored';
}

/** Sends what waits for a device that just connected: never after `expires_at`. */
export async function releaseDevice(
  ctx: GatewayContext,
  tenant: string,
  deviceId: string,
): Promise<number> {
  const released = await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.now();
    const rows = await lockWaitingForDevice(trx, tenant, deviceId, now);
    for (const row of rows) {
      if (row.attempts === 0 && new Date(row.expires_at).getTime() <= now.getTime()) {
        await moveTo(trx, ctx, row, 'expired', now);
      } else {
        await dispatch(trx, ctx, row, now);
      }
    }
    return rows.length;
  });
  if (released > 0) ctx.notifyOutbox();
  return released;
}
