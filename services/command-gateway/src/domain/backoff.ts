// Resend back-off: exponential with jitter, so a fleet that reconnects at once does not get
// its resends in lock step.

/** Back-off settings. */
export interface BackoffPolicy {
  /** Delay before the first resend (ms). */
  baseMs: number;
  /** Upper bound of any delay (ms). */
  maxMs: number;
}

/**
 * Delay before resend number `attempt` (1 = the first resend): `base * 2^(attempt-1)`, capped,
 * then "equal jitter" (between half and all of it) so it never collapses to zero.
 */
export function resendDelayMs(policy: BackoffPolicy, attempt: number, random: number): number {
  const exp = policy.baseMs * 2 ** Math.max(0, attempt - 1);
  const capped = Math.min(policy.maxMs, exp);
  const r = Math.min(1, Math.max(0, random));
  return Math.round(capped / 2 + (capped / 2) * r);
}
