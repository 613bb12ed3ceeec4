// Timers as rows: a due command (send slot, resend, deadline, expiry) is found by `due_at`,
// locked with SKIP LOCKED (replicas and restarts are safe), decided by the domain and applied.
// The scanner sleeps until the earliest due row (an in-process timer backed by that row), and
// never longer than `maxSleepMs` so other replicas' new rows are seen too.
import { decideDue } from '../domain/due';
import {
  earliestDue,
  fanoutPace,
  lockDue,
  updateCommand,
  type VersionedRow,
} from '../adapters/postgres/command.repository';
import { onlineDevices } from '../adapters/postgres/presence.repository';
import { type CommandRow } from '../adapters/postgres/command.table';
import { type GatewayContext } from './gateway.context';
import { dispatch, moveTo } from './transition.service';

/** A running scanner. */
export interface Scanner {
  /** Wake no later than `at`. */
  hint(at: Date): void;
  /** One pass over due rows (tests); resolves with the rows handled. */
  scanOnce(): Promise<number>;
  /** Stops the timer and waits for a running pass. */
  stop(): Promise<void>;
}

// Small batches: a due row's answer waits on the scanner's lock until the batch commits.
const BATCH = 20;
const ms = (d: Date | string | null) => (d === null ? null : new Date(d).getTime());

async function applyDue(ctx: GatewayContext): Promise<number> {
  const dispatched: VersionedRow[] = [];
  const handled = await ctx.db.transaction().execute(async (trx) => {
    const now = ctx.now();
    const rows = await lockDue(trx, now, BATCH);
    // Rows the scanner changes: a cached copy would only cost a failed compare-and-set.
    for (const row of rows) ctx.rowCache?.delete(row.command_id);
    const online = new Map<string, Set<string>>();
    for (const tenant of new Set(rows.map((r) => r.tenant))) {
      const ids = rows.filter((r) => r.tenant === tenant).map((r) => r.device_id);
      online.set(tenant, await onlineDevices(trx, tenant, ids));
    }
    const paced = await paceFanouts(trx, rows, now);
    for (const row of rows)
      if (!paced.has(row.command_id)) await applyOne(ctx, trx, row, now, online, dispatched);
    return rows.length;
  });
  for (const row of dispatched) ctx.rowCache?.set(row);
  if (handled > 0) ctx.notifyOutbox();
  return handled;
}

/**
 * Fan-out slots are fixed when the fan-out is created; a scanner that fell behind would find
 * many slots overdue at once and release them together. First dispatches of a fan-out are
 * therefore held to its rate over the last second: the rest of the batch is moved to later
 * slots. Returns the ids moved.
 */
async function paceFanouts(
  trx: Parameters<typeof dispatch>[0],
  rows: CommandRow[],
  now: Date,
): Promise<Set<string>> {
  const moved = new Set<string>();
  const firsts = rows.filter((r) => r.fanout_id !== null && r.attempts === 0);
  for (const fanoutId of new Set(firsts.map((r) => r.fanout_id!))) {
    const pace = await fanoutPace(trx, fanoutId, new Date(now.getTime() - 1000));
    if (pace === null) continue;
    const allowed = Math.max(0, pace.ratePerS - pace.recent);
    const gapMs = 1000 / pace.ratePerS;
    const over = firsts.filter((r) => r.fanout_id === fanoutId).slice(allowed);
    for (const [k, row] of over.entries()) {
      const at = new Date(now.getTime() + Math.ceil((k + 1) * gapMs));
      await updateCommand(trx, row.command_id, { next_attempt_at: at });
      moved.add(row.command_id);
    }
  }
  return moved;
}

async function applyOne(
  ctx: GatewayContext,
  trx: Parameters<typeof dispatch>[0],
  row: CommandRow,
  now: Date,
  online: Map<string, Set<string>>,
  dispatched: VersionedRow[],
): Promise<void> {
  const action = decideDue(
    {
      status: row.status,
      attempts: row.attempts,
      answered: row.answered,
      expiresAtMs: ms(row.expires_at)!,
      nextAttemptAtMs: ms(row.next_attempt_at),
      deadlineAtMs: ms(row.deadline_at),
    },
    now.getTime(),
    online.get(row.tenant)?.has(row.device_id) ?? false,
  );
  if (action === 'expire') await moveTo(trx, ctx, row, 'expired', now);
  else if (action === 'time_out') await moveTo(trx, ctx, row, 'timed_out', now);
  else if (action === 'dispatch' || action === 'resend')
    dispatched.push(await dispatch(trx, ctx, row, now));
  // Parked: the device's next `online` releases it.
  else if (action === 'park') await updateCommand(trx, row.command_id, { next_attempt_at: null });
  else {
    ctx.logger.warn({ event: 'command.due_noop', command_id: row.command_id }, 'due row no-op');
    await updateCommand(trx, row.command_id, { next_attempt_at: null });
  }
}

/** Starts the scanner loop. */
export function startScanner(ctx: GatewayContext, maxSleepMs: number): Scanner {
  let timer: NodeJS.Timeout | null = null;
  let wakeAt = Infinity;
  let running: Promise<void> | null = null;
  let again = false;
  let stopped = false;

  const arm = (atMs: number) => {
    if (stopped || atMs >= wakeAt) return;
    if (timer !== null) clearTimeout(timer);
    wakeAt = atMs;
    timer = setTimeout(run, Math.max(0, atMs - Date.now()));
  };
  const run = () => {
    timer = null;
    wakeAt = Infinity;
    if (running !== null) {
      again = true;
      return;
    }
    running = (async () => {
      try {
        do {
          again = false;
          while ((await applyDue(ctx)) === BATCH && !stopped);
        } while (again && !stopped);
        const next = await earliestDue(ctx.db);
        arm(Math.min(next?.getTime() ?? Infinity, Date.now() + maxSleepMs));
      } catch (err) {
        ctx.logger.warn({ event: 'command.scan_failed', err: String(err) }, 'scan failed');
        arm(Date.now() + maxSleepMs);
      } finally {
        running = null;
      }
    })();
  };
  arm(Date.now());
  return {
    hint: (at) => arm(at.getTime()),
    scanOnce: () => applyDue(ctx),
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      await running;
    },
  };
}
