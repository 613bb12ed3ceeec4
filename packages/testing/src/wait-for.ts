/** Options of {@link waitFor}. */
export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Pause between attempts (default 50 ms). */
  intervalMs?: number;
  /** Included in the timeout error. */
  description?: string;
}

/**
 * Polls `fn` until it returns a truthy value (which is returned) without throwing; for
 * conditions that have no event to await. On timeout it rejects with the last error seen.
 */
export async function waitFor<T>(
  fn: () => T | Promise<T>,
  opts: WaitForOptions = {},
): Promise<NonNullable<T>> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const intervalMs = opts.intervalMs ?? 50;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value) return value as NonNullable<T>;
      lastError = undefined;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const what = opts.description ?? 'condition';
      const why = lastError
        ? `: ${lastError instanceof Error ? lastError.message : String(lastError)}`
        : '';
      throw new Error(`waitFor timed out after ${timeoutMs} ms waiting for ${what}${why}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}
