// Inserts single `create_command` calls in batches: the creates of one event-loop turn (up to
// CREATE_BATCH_MAX) go into the database as one statement per tenant (rows, `command.queued`
// events and dispatch messages of the online devices), one commit instead of one per command.
// Only creates without an Idempotency-Key come here: a keyed create keeps its own statement and
// its conflict handling. Each caller awaits its own row; a failed statement fails its batch's
// callers only (the RPC answers them with a retryable error).
import { outboxBatch } from '@drover/bus';
import {
  type BatchRow,
  insertCreatedBatch,
  type VersionedRow,
} from '../adapters/postgres/command.repository';
import { type GatewayContext } from './gateway.context';

/**
 * Inserts creates of one tenant with `insertCreatedBatch` and publishes the outbox rows of the
 * rows it inserted right after the commit, in the statement's order: each row's
 * `command.queued` event, then its COMMANDS message when it was dispatched at once.
 */
export function insertBatchAndPublish(
  ctx: Pick<GatewayContext, 'db' | 'publishAfterCommit' | 'rowCache'>,
  tenant: string,
  batch: BatchRow[],
): Promise<VersionedRow[]> {
  if (batch.length === 0) return Promise.resolve([]);
  const all = outboxBatch(batch.flatMap((b) => [b.outbox.event, b.outbox.dispatch]));
  return ctx.publishAfterCommit(
    [all],
    () => insertCreatedBatch(ctx.db, tenant, batch, all.event_id),
    (stored) => {
      // Held before the COMMANDS messages go out: their broker-ack reports find the rows.
      for (const r of stored) if (r.attempts === 1) ctx.rowCache?.set(r);
      const byId = new Map(stored.map((r) => [r.command_id, r]));
      const messages = batch.flatMap((b) => {
        const r = byId.get(b.row.command_id);
        if (r === undefined) return [];
        return r.attempts === 1 ? [b.outbox.event, b.outbox.dispatch] : [b.outbox.event];
      });
      return [{ ...all, messages }];
    },
  );
}

/** Sizes of {@link CreateBatcher}. */
export interface CreateBatcherOptions {
  /** Creates per batch at most (a full batch is written at once). */
  maxBatch: number;
  /** Batches writing at once (each holds one pool connection for one statement). */
  maxInFlight: number;
}

/** Counters (tests, debugging). */
export interface CreateBatchStats {
  /** Batches written. */
  batches: number;
  /** Insert statements (one per tenant of a batch). */
  statements: number;
  /** Rows inserted. */
  rows: number;
}

interface Pending {
  tenant: string;
  row: BatchRow;
  resolve: (row: VersionedRow) => void;
  reject: (err: unknown) => void;
}

/** Batches creates; see the file header. */
export class CreateBatcher {
  /** Counters. */
  readonly stats: CreateBatchStats = { batches: 0, statements: 0, rows: 0 };
  private pending: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;

  constructor(
    private readonly ctx: Pick<GatewayContext, 'db' | 'publishAfterCommit'>,
    readonly options: CreateBatcherOptions,
  ) {}

  /** Inserts `row` with the next batch; resolves with the stored row. */
  submit(tenant: string, row: BatchRow): Promise<VersionedRow> {
    return new Promise((resolve, reject) => {
      this.pending.push({ tenant, row, resolve, reject });
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.inFlight >= this.options.maxInFlight || this.pending.length === 0) return;
    if (this.pending.length >= this.options.maxBatch) {
      this.flush();
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.inFlight < this.options.maxInFlight) this.flush();
    });
  }

  private flush(): void {
    const batch = this.pending.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    this.inFlight++;
    this.stats.batches++;
    void this.write(batch).finally(() => {
      this.inFlight--;
      this.schedule();
    });
  }

  private async write(batch: Pending[]): Promise<void> {
    const byTenant = new Map<string, Pending[]>();
    for (const p of batch) {
      const list = byTenant.get(p.tenant);
      if (list === undefined) byTenant.set(p.tenant, [p]);
      else list.push(p);
    }
    await Promise.all(
      [...byTenant].map(async ([tenant, group]) => {
        try {
          this.stats.statements++;
          const rows = await insertBatchAndPublish(
            this.ctx,
            tenant,
            group.map((p) => p.row),
          );
          this.stats.rows += rows.length;
          const byId = new Map(rows.map((r) => [r.command_id, r]));
          for (const p of group) {
            const stored = byId.get(p.row.row.command_id);
            // Without an idempotency key nothing can conflict: a missing row is a bug.
            if (stored === undefined) p.reject(new Error(`command ${p.row.row.command_id} lost`));
            else p.resolve(stored);
          }
        } catch (err) {
          for (const p of group) p.reject(err);
        }
      }),
    );
  }
}
