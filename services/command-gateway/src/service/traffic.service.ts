// What devices and the ingress report: answers (`cmd_res`), broker acks (`cmd_sent`),
// presence, and commands the ingress gave up on (its DLQ). Answers and broker acks are applied
// in batches (ReportBatcher: one read and one compare-and-set write per batch); a dead letter
// runs in one transaction on a locked row. A report about a command we do not know is refused
// (the bus DLQs it).
import {
  type BatchEntry,
  createTurnBatcher,
  type TurnBatcher,
  type TurnBatcherOptions,
  ValidationError,
} from '@drover/service-kit';
import { applyAnswer, applySignal, type DeviceAnswer } from '../domain/command-state';
import {
  devicesWithWaiting,
  findCommand,
  lockWaitingForDevice,
  type VersionedRow,
} from '../adapters/postgres/command.repository';
import {
  type PresenceFact,
  presenceKey,
  upsertPresenceMany,
} from '../adapters/postgres/presence.repository';
import { type CommandRow } from '../adapters/postgres/command.table';
import { type Executor } from '../adapters/postgres/schema';
import { type GatewayContext } from './gateway.context';
import { type ReportBatcher, type ReportOutcome } from './report-batcher';
import { dispatch, moveTo } from './transition.service';

export type { ReportOutcome } from './report-batcher';

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

// A batched report's events were published right after its commit (publishAfterCommit); a dead
// letter's move goes through the outbox relay, which `notify` wakes.
function finish(
  ctx: GatewayContext,
  kind: ReportKind,
  outcome: ReportOutcome,
  notify = false,
): ReportOutcome {
  if (outcome !== 'applied') ctx.metrics.ignored.inc({ kind, reason: outcome });
  else if (notify) ctx.notifyOutbox();
  return outcome;
}

/** A device answer on `cmd/res`, applied with the next batch of `reports`. */
export async function handleAnswer(
  ctx: GatewayContext,
  reports: ReportBatcher,
  a: {
    tenant: string;
    deviceId: string;
    cmdId: string;
    status: DeviceAnswer;
    result?: Record<string, unknown>;
    error?: string;
  },
): Promise<ReportOutcome> {
  const outcome = await reports.submit({
    kind: 'cmd_res',
    tenant: a.tenant,
    deviceId: a.deviceId,
    cmdId: a.cmdId,
    // `accepted` is followed by the result, often within milliseconds.
    holdable: a.status === 'accepted',
    decide: (row, now) => {
      const t = applyAnswer(row.status, a.status);
      if (t.kind === 'ignore') return { ignore: t.reason };
      return {
        to: t.to,
        row: { ...row, answered: true },
        patch: {
          ...(a.result !== undefined && { result: a.result }),
          ...(a.error !== undefined && { error: a.error }),
          // An accepted command keeps its deadline; one answered before it was dispatched has
          // none.
          ...(row.deadline_at === null && {
            deadline_at: new Date(now.getTime() + row.timeout_s * 1000),
          }),
        },
      };
    },
  });
  return finish(ctx, 'cmd_res', outcome);
}

/** The ingress's report that the broker acknowledged the command (PUBACK), batched. */
export async function handleSent(
  ctx: GatewayContext,
  reports: ReportBatcher,
  s: { tenant: string; deviceId: string; cmdId: string; sentAt: Date },
): Promise<ReportOutcome> {
  let deadline: Date | null = null;
  const outcome = await reports.submit({
    kind: 'cmd_sent',
    tenant: s.tenant,
    deviceId: s.deviceId,
    cmdId: s.cmdId,
    // The device's answer usually follows the broker's ack within milliseconds.
    holdable: true,
    decide: (row) => {
      const t = applySignal(row.status, 'broker_acked');
      // The device's answer came first (beyond the hold): no move, but the command keeps when
      // the broker had it.
      if (t.kind === 'ignore') {
        return row.sent_at === null ? { fill: { sent_at: s.sentAt } } : { ignore: t.reason };
      }
      // The time-out runs from sending: no earlier than timeout_s after the broker had it.
      deadline = new Date(s.sentAt.getTime() + row.timeout_s * 1000);
      return { to: t.to, patch: { sent_at: s.sentAt, deadline_at: deadline } };
    },
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
  return finish(ctx, 'dlq', outcome, true);
}

/** What became of a presence message. */
export type PresenceOutcome = 'stored' | 'stale';

/** Applies presence messages in batches. */
export type PresenceBatcher = TurnBatcher<PresenceFact, PresenceOutcome>;

/**
 * Presence in batches, as a reconnect storm brings it: the presences of one event-loop turn are
 * stored with one statement (each device's newest; an older one of the same device in the batch
 * is `stale`, as is one older than what is stored), the devices that came online are looked up
 * in the registry in the background, and one read finds those of them with commands waiting,
 * which are then released (in order, never after `expires_at`). Two statements per batch
 * instead of two per device when nothing waits, which is the common case.
 */
export function createPresenceBatcher(
  ctx: GatewayContext,
  opts: TurnBatcherOptions,
): PresenceBatcher {
  return createTurnBatcher<PresenceFact, PresenceOutcome>(async (entries) => {
    const newest = new Map<string, BatchEntry<PresenceFact, PresenceOutcome>>();
    for (const entry of entries) {
      const key = presenceKey(entry.item.tenant, entry.item.deviceId);
      const seen = newest.get(key);
      // Equal times: the later message wins, as the upsert's `<=` lets it.
      if (seen === undefined || seen.item.ts.getTime() <= entry.item.ts.getTime()) {
        newest.set(key, entry);
      }
    }
    const stored = await upsertPresenceMany(
      ctx.db,
      [...newest.values()].map((e) => e.item),
    );
    const connected = [...newest]
      .filter(([key, e]) => e.item.online && stored.has(key))
      .map(([, e]) => e.item);
    const byTenant = new Map<string, string[]>();
    for (const f of connected) {
      const ids = byTenant.get(f.tenant);
      if (ids) ids.push(f.deviceId);
      else byTenant.set(f.tenant, [f.deviceId]);
    }
    // In the background: a device that connects is about to be commanded.
    for (const [tenant, ids] of byTenant) void ctx.prefetchDeviceMeta?.(tenant, ids);
    const waiting = await devicesWithWaiting(ctx.db, connected, ctx.now());
    await Promise.all(
      connected
        .filter((f) => waiting.has(presenceKey(f.tenant, f.deviceId)))
        .map((f) => releaseWaiting(ctx, f.tenant, f.deviceId)),
    );
    for (const entry of entries) {
      const key = presenceKey(entry.item.tenant, entry.item.deviceId);
      entry.resolve(newest.get(key) === entry && stored.has(key) ? 'stored' : 'stale');
    }
  }, opts);
}

/** Sends what waits for a device that just connected: never after `expires_at`. */
export async function releaseDevice(
  ctx: GatewayContext,
  tenant: string,
  deviceId: string,
): Promise<number> {
  // Mostly nothing waits: a plain read first, the locking transaction only when something does
  // (the presence batch makes the same read once for all its devices). Each side reads after
  // its own write committed (the presence there, the parked command in releaseIfCameOnline), so
  // a command parked while its device connects is released by one of the two.
  const waiting = await devicesWithWaiting(ctx.db, [{ tenant, deviceId }], ctx.now());
  if (waiting.size === 0) return 0;
  return releaseWaiting(ctx, tenant, deviceId);
}

/** Locks a device's waiting commands and sends them in order (expired ones expire). */
async function releaseWaiting(ctx: GatewayContext, tenant: string, deviceId: string) {
  const dispatched: VersionedRow[] = [];
  const released = await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.now();
    const rows = await lockWaitingForDevice(trx, tenant, deviceId, now);
    for (const row of rows) {
      if (row.attempts === 0 && new Date(row.expires_at).getTime() <= now.getTime()) {
        await moveTo(trx, ctx, row, 'expired', now);
      } else {
        dispatched.push(await dispatch(trx, ctx, row, now));
      }
    }
    return rows.length;
  });
  for (const row of dispatched) ctx.rowCache?.set(row);
  if (released > 0) ctx.notifyOutbox();
  return released;
}
