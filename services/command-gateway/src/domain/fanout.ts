// Group fan-out: when each member's command may first go out (the rate limit, held by rows so a
// restart keeps it) and the progress summary.
import { type CommandStatus, FINAL_STATUSES } from './command-state';

/** Release time of the i-th command of a fan-out at `ratePerS` commands per second. */
export function fanoutSlotMs(startMs: number, index: number, ratePerS: number): number {
  return startMs + Math.floor((index * 1000) / ratePerS);
}

/** Counts by state and whether every command is final. */
export function summarize(
  counts: Partial<Record<CommandStatus, number>>,
  total: number,
): { counts: Partial<Record<CommandStatus, number>>; done: boolean } {
  let final = 0;
  for (const [status, n] of Object.entries(counts)) {
    if (FINAL_STATUSES.has(status as CommandStatus)) final += n;
  }
  return { counts, done: final >= total };
}
