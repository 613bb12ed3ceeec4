// Writes one batch: partitions for its days, the insert, then metrics and the latest-values
// cache. A transient failure (Postgres down) is retried until it passes or the writer is
// aborted; the bus keeps the messages alive meanwhile. A permanent failure falls back to
// row-by-row so one bad row cannot sink its neighbours.
import { type Kysely } from 'kysely';
import { isTransientDbError } from '@drover/db';
import { type Logger } from '@drover/observability';
import { TransientError, ValidationError } from '@drover/service-kit';
import { type TelemetryRow, latestPerDevice } from '../domain/telemetry-record';
import { dayStart, partitionFor, retentionCutoff } from '../domain/partitions';
import { insertBatch } from '../adapters/postgres/telemetry.repository';
import { createPartitions } from '../adapters/postgres/partition.maintenance';
import { type TelemetryDb } from '../adapters/postgres/telemetry.table';
import { type LatestStore } from '../adapters/redis/latest.store';
import { type IngestMetrics } from '../ingest.metrics';

/** What the row writer needs. */
export interface RowWriterDeps {
  /** Database. */
  db: Kysely<TelemetryDb>;
  /** Latest-values cache. */
  latest: LatestStore;
  /** Series. */
  metrics: IngestMetrics;
  /** Logger. */
  logger: Logger;
  /** Retention in days: older rows are dropped, not written. */
  retentionDays: number;
}

/** A batch writer function plus its controls. */
export interface RowWriter {
  /** Writes one batch (the BatchWriter's `write`). */
  write(rows: TelemetryRow[]): Promise<void>;
  /** Remembers partitions already created (by maintenance). */
  knowPartitions(names: readonly string[]): void;
  /** Makes pending retries give up (their messages are redelivered later). */
  abort(): void;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Builds the writer. */
export function createRowWriter(deps: RowWriterDeps): RowWriter {
  const known = new Set<string>();
  let aborted = false;

  // Day starts whose partition is known to exist: a number per row instead of a name.
  const knownDays = new Set<number>();

  async function insertOnce(rows: TelemetryRow[]): Promise<number> {
    const missing = new Map<string, ReturnType<typeof partitionFor>>();
    for (const r of rows) {
      const day = dayStart(r.ts);
      if (knownDays.has(day)) continue;
      const p = partitionFor(r.ts);
      if (known.has(p.name)) knownDays.add(day);
      else missing.set(p.name, p);
    }
    if (missing.size > 0) {
      await createPartitions(deps.db, [...missing.values()]);
      for (const [name, p] of missing) {
        known.add(name);
        knownDays.add(p.startMs);
      }
    }
    return insertBatch(deps.db, rows);
  }

  async function withRetry(rows: TelemetryRow[]): Promise<number> {
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await insertOnce(rows);
      } catch (err) {
        if (!isTransientDbError(err)) throw err;
        if (aborted) throw new TransientError('db_unavailable', 'stopping while db is down');
        deps.metrics.writeRetries.inc();
        if (attempt % 10 === 0) {
          deps.logger.warn({ event: 'telemetry.write_retry', attempt, err }, 'db unavailable');
        }
        await sleep(Math.min(200 * 2 ** attempt, 2000) * (0.5 + Math.random()));
      }
    }
  }

  async function write(all: TelemetryRow[]): Promise<void> {
    const cutoff = retentionCutoff(Date.now(), deps.retentionDays);
    const rows = all.filter((r) => r.ts >= cutoff);
    if (rows.length < all.length) {
      deps.metrics.rejected.inc({ reason: 'past_retention' }, all.length - rows.length);
    }
    if (rows.length === 0) return;
    const end = deps.metrics.batchSeconds.startTimer();
    let inserted: number;
    try {
      inserted = await withRetry(rows);
    } catch (err) {
      if (err instanceof TransientError || rows.length === 1) throw err;
      deps.logger.error({ event: 'telemetry.batch_failed', err }, 'batch failed; row by row');
      inserted = await writeOneByOne(rows);
    }
    end();
    const now = Date.now();
    deps.metrics.batchRows.observe(rows.length);
    deps.metrics.rowsOut.inc(inserted);
    deps.metrics.duplicates.inc(rows.length - inserted);
    for (const r of rows) {
      deps.metrics.ingestLag.observe((now - r.receivedAt) / 1000);
      deps.metrics.deviceLatency.observe((now - r.ts) / 1000);
    }
    try {
      await deps.latest.record(latestPerDevice(rows));
    } catch (err) {
      // Redis is a cache: the rows are committed, the next batch refreshes it.
      deps.metrics.latestErrors.inc();
      deps.logger.warn({ event: 'telemetry.latest_failed', err }, 'latest values not cached');
    }
  }

  // Rows that fail alone are poison: their promises reject with a permanent error so the bus
  // dead-letters exactly those messages.
  async function writeOneByOne(rows: TelemetryRow[]): Promise<number> {
    let inserted = 0;
    const failed: unknown[] = [];
    for (const row of rows) {
      try {
        inserted += await withRetry([row]);
      } catch (err) {
        failed.push(err);
      }
    }
    if (failed.length > 0) {
      throw new ValidationError('bad_row', `${failed.length} rows failed: ${String(failed[0])}`);
    }
    return inserted;
  }

  return {
    write,
    knowPartitions: (names) => names.forEach((n) => known.add(n)),
    abort: () => {
      aborted = true;
    },
  };
}
