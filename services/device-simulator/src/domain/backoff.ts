// Reconnect delays as the device protocol asks: exponential, full jitter, 1 s to 5 min.
import type { Random } from './random';

/** Bounds of the back-off. */
export interface BackoffOptions {
  /** Smallest delay, ms (default 1000). */
  minMs?: number;
  /** Largest delay, ms (default 300000). */
  maxMs?: number;
}

/** Delay before reconnect attempt `attempt` (0 = the first): uniform in [min, cap]. */
export function backoffDelayMs(attempt: number, rand: Random, opts: BackoffOptions = {}): number {
  const minMs = opts.minMs ?? 1000;
  const maxMs = opts.maxMs ?? 300_000;
  // 2 ** attempt overflows to Infinity for big attempts; min() keeps the cap finite.
  const cap = Math.min(maxMs, minMs * 2 ** attempt);
  return Math.round(minMs + rand.next() * (cap - minMs));
}
