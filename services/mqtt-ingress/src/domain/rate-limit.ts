/** A token bucket: `take()` is true while the per-second budget lasts. */
export interface TokenBucket {
  /** Takes one token; false when the budget is spent. */
  take(): boolean;
}

/** A bucket refilled continuously at `perSecond`, holding at most `perSecond` tokens. */
export function createTokenBucket(perSecond: number, now: () => number = Date.now): TokenBucket {
  let tokens = perSecond;
  let last = now();
  return {
    take() {
      const t = now();
      tokens = Math.min(perSecond, tokens + ((t - last) / 1000) * perSecond);
      last = t;
      if (tokens < 1) return false;
      tokens -= 1;
      return true;
    },
  };
}
