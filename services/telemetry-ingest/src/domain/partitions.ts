// Daily range partitions: names, bounds, and which to create or drop. All in UTC.

const DAY_MS = 86_400_000;
const NAME = /^telemetry_p(\d{4})(\d{2})(\d{2})$/;

/** One day partition. */
export interface DayPartition {
  /** Table name, `telemetry_pYYYYMMDD`. */
  name: string;
  /** Inclusive lower bound (RFC 3339, midnight UTC). */
  from: string;
  /** Exclusive upper bound. */
  to: string;
  /** Lower bound as epoch ms. */
  startMs: number;
}

/** The start of the UTC day holding `ms`. */
export function dayStart(ms: number): number {
  return Math.floor(ms / DAY_MS) * DAY_MS;
}

/** The partition holding `ms`. */
export function partitionFor(ms: number): DayPartition {
  const start = dayStart(ms);
  const iso = new Date(start).toISOString();
  return {
    name: `telemetry_p${iso.slice(0, 10).replaceAll('-', '')}`,
    from: iso,
    to: new Date(start + DAY_MS).toISOString(),
    startMs: start,
  };
}

/** Today's partition and `aheadDays` more. */
export function partitionsAhead(nowMs: number, aheadDays: number): DayPartition[] {
  return Array.from({ length: aheadDays + 1 }, (_, i) => partitionFor(nowMs + i * DAY_MS));
}

/** The first instant still kept: rows before it are past retention. */
export function retentionCutoff(nowMs: number, retentionDays: number): number {
  return dayStart(nowMs) - retentionDays * DAY_MS;
}

/** Partition names (of those given) lying wholly before the retention cutoff. */
export function partitionsToDrop(names: readonly string[], nowMs: number, days: number): string[] {
  const cutoff = retentionCutoff(nowMs, days);
  return names.filter((name) => {
    const m = NAME.exec(name);
    if (m === null) return false;
    const start = Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3]));
    return start + DAY_MS <= cutoff;
  });
}
