// Applies device reports (`cmd_res`, `cmd_sent`) in batches: the reports submitted in one
// event-loop turn (or up to REPORT_BATCH_MAX) are read with one statement (rows this gateway
// wrote last come from its row cache instead, see row-cache.ts), decided in memory in
// arrival order (foldReports) and written with one compare-and-set statement that also inserts
// their events (one commit per batch instead of two round trips and a commit per report). Each
// submitter awaits its own report's outcome, so acks, naks and DLQ stay per message. One batcher
// serves both kinds: a command's broker ack and its answers often arrive together and then fold
// into one write instead of racing each other. To let them meet, a report that cannot be a
// command's last (the broker ack, `accepted`) is held up to REPORT_HOLD_MS before it joins a
// batch; the command's final answer releases it at once, and they are written together: one
// row version, one index update and one statement where three would follow each other. A
// final answer itself is never held.
import { eventMessages, outboxBatch, type OutboxInsertRow, outboxRows } from '@drover/bus';
import { captureContext } from '@drover/observability';
import { UnavailableError, ValidationError } from '@drover/service-kit';
import { foldReports } from '../domain/report-fold';
import {
  compareAndMoveMany,
  findVersionedMany,
  type VersionedRow,
} from '../adapters/postgres/command.repository';
import { type CommandRow } from '../adapters/postgres/command.table';
import { type GatewayContext } from './gateway.context';
import { countMove, movePatch, type PlannedMove, planMove } from './transition.service';

/** What a report did (metrics, logs, tests). */
export type ReportOutcome = 'applied' | 'duplicate' | 'late' | 'stale';

/** A report's decision on a row: ignore it (counted) or move it. */
export type ReportDecision =
  | { ignore: Exclude<ReportOutcome, 'applied'> }
  /** Columns to record without a move (no state change, no event). */
  | { fill: Partial<Pick<CommandRow, 'sent_at'>> }
  | {
      to: Parameters<typeof planMove>[1];
      patch: Parameters<typeof planMove>[3];
      /** The row to plan the move on, when the report changes more than the patch says. */
      row?: CommandRow;
    };

/** One device report. */
export interface Report {
  /** Which stream it came from (metric label). */
  kind: 'cmd_res' | 'cmd_sent';
  /** Tenant of the device that sent it. */
  tenant: string;
  /** The device. */
  deviceId: string;
  /** The command it is about. */
  cmdId: string;
  /** The decision on the row as it is when the report is applied (pure; may run again). */
  decide: (row: CommandRow, now: Date) => ReportDecision;
  /** Not the command's last report (a broker ack, `accepted`): may be held for a later one. */
  holdable?: boolean;
}

/** Sizes of {@link ReportBatcher}. */
export interface ReportBatcherOptions {
  /** Reports per batch at most (a full batch is flushed at once). */
  maxBatch: number;
  /** Extra wait before flushing a batch that is not full (0: the end of the event-loop turn). */
  waitMs: number;
  /** Batches reading or writing at once (each uses one pool connection at a time). */
  maxInFlight: number;
  /** How long a holdable report waits for its command's next report (0: never held). */
  holdMs?: number;
}

/** Counters (tests, debugging). */
export interface ReportBatchStats {
  /** Batches flushed. */
  batches: number;
  /** Reports in them (a retried report counts again). */
  reports: number;
  /** Read statements. */
  reads: number;
  /** Rows taken from the row cache instead of a read. */
  cached: number;
  /** Cached rows that had changed meanwhile, or that a report was ignored on (their reports
   * went on with a read). */
  stale: number;
  /** Write statements. */
  writes: number;
  /** Rows written. */
  rowsWritten: number;
  /** Rows whose write lost to another writer (their reports were retried). */
  races: number;
  /** Reports held for a later report of their command. */
  held: number;
  /** Held reports a later report of their command released (written together with it). */
  joined: number;
}

/** Test hooks. */
export interface ReportBatchHooks {
  /** Runs between a batch's read and its write with the ids about to be written. */
  beforeWrite?: (commandIds: string[]) => Promise<void>;
  /** Called after each batch with its reports' command ids (arrival order) and the ids written. */
  onBatch?: (batch: { commandIds: string[]; written: string[] }) => void;
}

// Losing a race (the scanner, a batch in flight with the same command) means reading again in a
// later batch after a short pause; past MAX_RACES the message is retried by the bus.
const MAX_RACES = 40;
const racePauseMs = (race: number) => Math.min(5 * 2 ** race, 100);

interface Pending {
  report: Report;
  race: number;
  /** Runs `fn` in the submitter's async context (correlation id and trace of its message). */
  inContext: <T>(fn: () => T) => T;
  resolve: (outcome: ReportOutcome) => void;
  reject: (err: unknown) => void;
}

// A command's held reports; `awaitingAck`: a final answer among them waits for the broker ack.
interface HoldGroup {
  until: number;
  reports: Pending[];
  awaitingAck: boolean;
}

interface Effect {
  base: CommandRow;
  /** Null for a fill (columns recorded without a move). */
  move: PlannedMove | null;
  outbox: OutboxInsertRow[];
}

/** Batches device reports; see the file header. */
export class ReportBatcher {
  /** Counters. */
  readonly stats: ReportBatchStats = {
    batches: 0,
    reports: 0,
    reads: 0,
    cached: 0,
    stale: 0,
    writes: 0,
    rowsWritten: 0,
    races: 0,
    held: 0,
    joined: 0,
  };
  /** Test hooks. */
  hooks: ReportBatchHooks = {};
  private pending: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private readonly busy = new Set<string>();
  // Held reports by command (arrival order), and the commands in the order their hold ends.
  private readonly holding = new Map<string, HoldGroup>();
  private readonly holdOrder: { cmdId: string; until: number }[] = [];
  private holdTimer: NodeJS.Timeout | null = null;

  /** `options` may be changed at run time (tests). */
  constructor(
    private readonly ctx: GatewayContext,
    readonly options: ReportBatcherOptions,
  ) {}

  /** Reports waiting for a batch (tests). */
  get waiting(): number {
    return this.pending.length;
  }

  /** Batches being applied now (tests: their counters are final once none is). */
  get running(): number {
    return this.inFlight;
  }

  /** Reports held for a later report of their command (tests). */
  get holdingCount(): number {
    let n = 0;
    for (const h of this.holding.values()) n += h.reports.length;
    return n;
  }

  /** Applies `report` with the next batch; resolves with its outcome. */
  submit(report: Report): Promise<ReportOutcome> {
    return new Promise((resolve, reject) => {
      const p: Pending = { report, race: 0, inContext: captureContext(), resolve, reject };
      const holdMs = this.options.holdMs ?? 0;
      const group = this.holding.get(report.cmdId);
      if (group !== undefined) {
        group.reports.push(p);
        this.stats.held++;
        // A broker ack completes a group whose final answer waited for it; a final answer
        // completes a group unless it has to wait for the broker ack itself.
        const complete =
          report.kind === 'cmd_sent'
            ? group.awaitingAck
            : report.holdable !== true && !(group.awaitingAck = this.awaitsAck(group.reports));
        if (complete) this.release(report.cmdId, group, true);
        return;
      }
      if (holdMs > 0 && (report.holdable === true || this.awaitsAck([p]))) {
        const until = Date.now() + holdMs;
        const awaitingAck = report.holdable !== true;
        this.holding.set(report.cmdId, { until, reports: [p], awaitingAck });
        this.holdOrder.push({ cmdId: report.cmdId, until });
        this.stats.held++;
        this.armHold();
        return;
      }
      this.enqueue(p);
    });
  }

  // A final answer whose command this gateway dispatched but has not seen acked by the broker
  // waits (within the hold) for that ack: answers often overtake it (another consumer), and an
  // ack applied after the answer would need a write of its own to fill `sent_at`.
  private awaitsAck(reports: Pending[]): boolean {
    if (reports.some((r) => r.report.kind === 'cmd_sent')) return false;
    const row = this.ctx.rowCache?.get(reports[0]!.report.cmdId);
    return row !== undefined && row.status === 'queued' && row.attempts > 0;
  }

  // Releases a command's held reports into the next batch: the broker ack first (it happened
  // before any answer), the rest in arrival order.
  private release(cmdId: string, group: HoldGroup, early: boolean): void {
    this.holding.delete(cmdId);
    if (early) this.stats.joined += group.reports.length - 1;
    const ordered = [
      ...group.reports.filter((r) => r.report.kind === 'cmd_sent'),
      ...group.reports.filter((r) => r.report.kind !== 'cmd_sent'),
    ];
    for (const r of ordered) this.enqueue(r);
  }

  // One timer for every hold: holds end in the order they began, as every hold lasts holdMs (a
  // shorter holdMs set at run time waits behind holds begun before it).
  private armHold(): void {
    if (this.holdTimer !== null) return;
    const next = this.holdOrder[0];
    if (next === undefined) return;
    this.holdTimer = setTimeout(
      () => {
        this.holdTimer = null;
        const now = Date.now();
        while (this.holdOrder.length > 0 && this.holdOrder[0]!.until <= now) {
          const { cmdId, until } = this.holdOrder.shift()!;
          const group = this.holding.get(cmdId);
          // Released earlier by a later report (and maybe held again since, with a later end).
          if (group === undefined || group.until !== until) continue;
          this.release(cmdId, group, false);
        }
        this.armHold();
      },
      Math.max(0, next.until - Date.now()),
    );
  }

  private enqueue(p: Pending): void {
    this.pending.push(p);
    if (this.pending.length >= this.options.maxBatch) {
      this.flush();
    } else if (!this.scheduled) {
      this.scheduled = true;
      const fire = () => {
        this.scheduled = false;
        this.flush();
      };
      if (this.options.waitMs > 0) setTimeout(fire, this.options.waitMs);
      else setImmediate(fire);
    }
  }

  // A report whose command is in a batch in flight waits for that batch (it would read the row
  // before that batch's write and lose the race); reports of one command keep arrival order.
  private flush(): void {
    while (this.inFlight < this.options.maxInFlight && this.pending.length > 0) {
      const batch: Pending[] = [];
      const held: Pending[] = [];
      for (const p of this.pending) {
        const free = batch.length < this.options.maxBatch && !this.busy.has(p.report.cmdId);
        (free ? batch : held).push(p);
      }
      this.pending = held;
      if (batch.length === 0) return;
      const ids = new Set(batch.map((p) => p.report.cmdId));
      for (const id of ids) this.busy.add(id);
      this.inFlight++;
      void this.run(batch).finally(() => {
        for (const id of ids) this.busy.delete(id);
        this.inFlight--;
        this.flush();
      });
    }
  }

  private async run(batch: Pending[]): Promise<void> {
    try {
      await this.apply(batch);
    } catch (err) {
      // A failed statement (or a bug) fails every report still waiting in this batch; the bus
      // naks or dead-letters each message by the error, as for a single report. Settling a
      // promise twice is a no-op, so reports already answered keep their outcome.
      for (const p of batch) p.reject(err);
    }
  }

  private async apply(batch: Pending[]): Promise<void> {
    const { ctx, stats } = this;
    stats.batches++;
    stats.reports += batch.length;
    const ids = [...new Set(batch.map((p) => p.report.cmdId))];
    // Rows this gateway wrote last come from the cache; the compare-and-set below catches a
    // cached row that changed since (it is then read like any other).
    const rows: VersionedRow[] = [];
    const fromCache = new Set<string>();
    const toRead: string[] = [];
    for (const id of ids) {
      const row = ctx.rowCache?.get(id);
      if (row === undefined) {
        toRead.push(id);
      } else {
        rows.push(row);
        fromCache.add(id);
      }
    }
    stats.cached += fromCache.size;
    if (toRead.length > 0) {
      rows.push(...(await findVersionedMany(ctx.db, toRead)));
      stats.reads++;
    }
    const now = ctx.now();
    const fold = foldReports<VersionedRow, Pending, Effect>(rows, batch, {
      rowKey: (row) => row.command_id,
      reportKey: (p) => p.report.cmdId,
      owns: (row, p) => row.tenant === p.report.tenant && row.device_id === p.report.deviceId,
      decide: (row, p) =>
        p.inContext(() => {
          const d = p.report.decide(row, now);
          if ('ignore' in d) return d;
          if ('fill' in d) {
            return { row: { ...row, ...d.fill }, effect: { base: row, move: null, outbox: [] } };
          }
          const base = d.row ?? row;
          const move = planMove(base, d.to, now, d.patch);
          const next = { ...move.next, row_version: row.row_version };
          return {
            row: next,
            effect: { base, move, outbox: outboxRows(eventMessages([move.event])) },
          };
        }),
    });
    const tied = new Set(fold.writes.flatMap((w) => w.reports));
    const recheck = new Set<string>();
    fold.verdicts.forEach((v, i) => {
      const p = batch[i]!;
      if (v.kind === 'unknown') {
        const { kind, cmdId, deviceId } = p.report;
        ctx.metrics.refused.inc({ kind, reason: 'unknown_command' });
        p.reject(new ValidationError('unknown_command', `no command ${cmdId} for ${deviceId}`));
      } else if (v.kind === 'ignored' && !tied.has(i)) {
        if (fromCache.has(p.report.cmdId)) {
          // Only a write proves a cached row current: an ignore is decided on the read row.
          recheck.add(p.report.cmdId);
          this.enqueue(p);
        } else {
          p.resolve(v.reason);
        }
      }
    });
    for (const id of recheck) ctx.rowCache?.delete(id);
    stats.stale += recheck.size;
    let written = new Map<string, string>();
    if (fold.writes.length > 0) {
      await this.hooks.beforeWrite?.(fold.writes.map((w) => w.read.command_id));
      const moves = fold.writes.map((w) => ({
        commandId: w.read.command_id,
        version: w.read.row_version,
        patch: movePatch(w.final),
        outbox: w.effects.flatMap((e) => e.outbox),
      }));
      // The events of the rows written, one batch row in the outbox, go out right after the
      // commit, in the statement's order.
      const messages = moves.flatMap((m) => m.outbox);
      const batch = messages.length > 0 ? outboxBatch(messages) : null;
      written = await ctx.publishAfterCommit(
        batch === null ? [] : [batch],
        () => compareAndMoveMany(ctx.db, moves, batch?.event_id ?? 'batch:none'),
        (ids) =>
          batch === null
            ? []
            : [
                {
                  ...batch,
                  messages: moves.flatMap((m) => (ids.has(m.commandId) ? m.outbox : [])),
                },
              ],
      );
      stats.writes++;
      stats.rowsWritten += written.size;
    }
    for (const w of fold.writes) {
      const id = w.read.command_id;
      const version = written.get(id);
      if (version !== undefined) {
        ctx.rowCache?.set({ ...w.final, row_version: version });
        for (const e of w.effects) if (e.move !== null) countMove(ctx, e.base, e.move, now);
        for (const i of w.reports) {
          const v = fold.verdicts[i]!;
          batch[i]!.resolve(v.kind === 'ignored' ? v.reason : 'applied');
        }
      } else if (fromCache.has(id)) {
        // The cached row was out of date: read it with the next batch (not a race).
        stats.stale++;
        ctx.rowCache?.delete(id);
        for (const i of w.reports) this.enqueue(batch[i]!);
      } else {
        ctx.rowCache?.delete(id);
        stats.races++;
        for (const i of w.reports) this.retry(batch[i]!);
      }
    }
    this.hooks.onBatch?.({
      commandIds: batch.map((p) => p.report.cmdId),
      written: [...written.keys()],
    });
  }

  private retry(p: Pending): void {
    const race = p.race + 1;
    if (race >= MAX_RACES) {
      const { cmdId } = p.report;
      p.reject(new UnavailableError('command_contended', `command ${cmdId} kept changing`));
      return;
    }
    setTimeout(() => this.enqueue({ ...p, race }), racePauseMs(p.race));
  }
}
