// Folds a batch of device reports onto the rows they are about, in arrival order: each decision
// is made on the row as the previous report of the same command left it, so a row is written
// once with its final state and every move's effect (its event) is kept in order. Pure and
// generic (rows, reports and effects are the caller's), so every branch is unit-tested.
import { type IgnoreReason } from './command-state';

/** What one report does to the row it is decided on: nothing (counted) or a move. */
export type FoldStep<R, E> = { ignore: IgnoreReason } | { row: R; effect: E };

/** The verdict on one report of the batch. */
export type FoldVerdict<E> =
  { kind: 'unknown' } | { kind: 'ignored'; reason: IgnoreReason } | { kind: 'moved'; effect: E };

/** One row to write: as read, as the batch leaves it, and the reports that depend on the write. */
export interface FoldedRow<R, E> {
  /** The row as read (its version guards the write). */
  read: R;
  /** The row after the last move. */
  final: R;
  /** Each move's effect, in arrival order. */
  effects: E[];
  /**
   * Indexes of the reports decided on a planned (not yet written) state: the first move and
   * every report after it. They stand or fall with the write; reports ignored before the first
   * move were decided on the row as read, like a single report, and do not.
   */
  reports: number[];
}

/** The outcome of {@link foldReports}. */
export interface Fold<R, E> {
  /** One verdict per report, index-aligned with the input. */
  verdicts: FoldVerdict<E>[];
  /** The rows that moved, in the order of their first move. */
  writes: FoldedRow<R, E>[];
}

/** How {@link foldReports} reads rows and reports. */
export interface FoldSpec<R, P, E> {
  /** A row's key. */
  rowKey: (row: R) => string;
  /** The key of the row a report is about. */
  reportKey: (report: P) => string;
  /** Whether the row is the report's to change (tenant, device); if not the report is unknown. */
  owns: (row: R, report: P) => boolean;
  /** The decision on `row` (as read or as planned by the previous report). */
  decide: (row: R, report: P) => FoldStep<R, E>;
}

/** Folds `reports` (arrival order) onto `rows` (the batch's read, any order). */
export function foldReports<R, P, E>(
  rows: readonly R[],
  reports: readonly P[],
  spec: FoldSpec<R, P, E>,
): Fold<R, E> {
  const byKey = new Map(rows.map((r) => [spec.rowKey(r), r]));
  const planned = new Map<string, FoldedRow<R, E>>();
  const verdicts: FoldVerdict<E>[] = [];
  const writes: FoldedRow<R, E>[] = [];
  reports.forEach((report, i) => {
    const key = spec.reportKey(report);
    const read = byKey.get(key);
    if (read === undefined || !spec.owns(read, report)) {
      verdicts.push({ kind: 'unknown' });
      return;
    }
    const group = planned.get(key);
    const step = spec.decide(group?.final ?? read, report);
    if ('ignore' in step) {
      verdicts.push({ kind: 'ignored', reason: step.ignore });
      group?.reports.push(i);
      return;
    }
    verdicts.push({ kind: 'moved', effect: step.effect });
    if (group === undefined) {
      const g: FoldedRow<R, E> = { read, final: step.row, effects: [step.effect], reports: [i] };
      planned.set(key, g);
      writes.push(g);
    } else {
      group.final = step.row;
      group.effects.push(step.effect);
      group.reports.push(i);
    }
  });
  return { verdicts, writes };
}
