// The open commands this gateway wrote last, with their row versions: a device report on one of
// them is decided on the cached row and written with the compare-and-set statement directly,
// without reading the row first (a command's broker ack and its answers were one read each).
// A cached row can be stale — the scanner, a release or another replica changed it — and then
// its compare-and-set writes nothing: the report batcher drops the entry and reads the row, so
// the cache saves reads but never decides against a newer row.
import { LRUCache } from 'lru-cache';
import { type VersionedRow } from '../adapters/postgres/command.repository';
import { isFinal } from '../domain/command-state';

/** A bounded map of command id → row as last written (least recently used leave first). */
export class RowCache {
  private readonly rows: LRUCache<string, VersionedRow> | null;

  /** `max` entries at most (0 keeps nothing). */
  constructor(readonly max: number) {
    this.rows = max > 0 ? new LRUCache({ max }) : null;
  }

  /** Entries held. */
  get size(): number {
    return this.rows?.size ?? 0;
  }

  /** The row as this gateway last wrote or read it, if held. */
  get(commandId: string): VersionedRow | undefined {
    return this.rows?.get(commandId);
  }

  /** Holds `row`; a final row is dropped instead (reports on it are rare). */
  set(row: VersionedRow): void {
    if (isFinal(row.status)) this.rows?.delete(row.command_id);
    else this.rows?.set(row.command_id, row);
  }

  /** Forgets a command. */
  delete(commandId: string): void {
    this.rows?.delete(commandId);
  }

  /** Forgets everything (tests). */
  clear(): void {
    this.rows?.clear();
  }
}
