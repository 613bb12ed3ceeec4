// The health gate: error and offline rates over every device attempted so far, judged once
// enough devices finished. Pure.

/** Device counts of a deployment (all stages so far). */
export interface HealthCounts {
  /** Devices sent the update. */
  attempted: number;
  /** Of those, succeeded. */
  succeeded: number;
  /** Of those, failed (reported failed or timed out). */
  failed: number;
  /** Of those, offline since their update. */
  offline: number;
}

/** The limits of a deployment. */
export interface HealthLimits {
  /** failed ÷ attempted above which it rolls back. */
  max_error_rate: number;
  /** offline ÷ attempted above which it rolls back. */
  max_offline_rate: number;
  /** Finished devices needed before judging (or all attempted when fewer). */
  min_sample: number;
}

/** What the gate says. */
export type HealthVerdict =
  | { kind: 'healthy' | 'insufficient' }
  | { kind: 'unhealthy'; reason: 'error_rate' | 'offline_rate' };

/** Error rate and offline rate (0 when nothing was attempted). */
export function healthRates(c: HealthCounts): { error_rate: number; offline_rate: number } {
  if (c.attempted === 0) return { error_rate: 0, offline_rate: 0 };
  return { error_rate: c.failed / c.attempted, offline_rate: c.offline / c.attempted };
}

/** Judges the counts against the limits. */
export function evaluateHealth(c: HealthCounts, limits: HealthLimits): HealthVerdict {
  const finished = c.succeeded + c.failed + c.offline;
  const sample = Math.min(limits.min_sample, c.attempted);
  if (c.attempted === 0 || finished < sample) return { kind: 'insufficient' };
  const { error_rate, offline_rate } = healthRates(c);
  if (error_rate > limits.max_error_rate) return { kind: 'unhealthy', reason: 'error_rate' };
  if (offline_rate > limits.max_offline_rate) return { kind: 'unhealthy', reason: 'offline_rate' };
  return { kind: 'healthy' };
}
