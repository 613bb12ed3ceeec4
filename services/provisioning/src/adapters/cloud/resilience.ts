// Retries with exponential back-off and a circuit breaker for cloud API calls (cockatiel).
// The breaker counts only throttling: a throttled account needs calm, while other transient
// failures (5xx, resets) are worth a quick retry. An open breaker fails fast with 503.
import {
  BrokenCircuitError,
  circuitBreaker,
  ConsecutiveBreaker,
  ExponentialBackoff,
  handleWhen,
  type IPolicy,
  retry,
  wrap,
} from 'cockatiel';
import { UnavailableError } from '@drover/service-kit';

/** Tuning of {@link createCloudPolicy}. */
export interface CloudPolicyOptions {
  /** Attempts per call, the first included. */
  maxAttempts: number;
  /** First back-off delay. */
  initialDelayMs: number;
  /** Largest back-off delay. */
  maxDelayMs: number;
  /** Consecutive throttled attempts that open the breaker. */
  breakerThreshold: number;
  /** How long the breaker stays open before letting one call through. */
  halfOpenAfterMs: number;
  /** Whether an error is throttling. */
  isThrottle(err: Error): boolean;
  /** Whether an error is worth retrying (throttling is always retried). */
  isTransient(err: Error): boolean;
}

/** A policy wrapper: runs a cloud call with retries and the breaker. */
export interface CloudPolicy {
  /** Runs `fn`; an open breaker or exhausted retries on throttling → 503 `cloud_unavailable`. */
  run<T>(operation: string, fn: () => Promise<T>): Promise<T>;
  /** The breaker's state (`closed`, `open`, `halfOpen`, `isolated`), for metrics and tests. */
  breakerState(): string;
}

/** Builds the retry-around-breaker policy. */
export function createCloudPolicy(opts: CloudPolicyOptions): CloudPolicy {
  const asError = (e: unknown): Error => (e instanceof Error ? e : new Error(String(e)));
  const breaker = circuitBreaker(
    handleWhen((e) => opts.isThrottle(asError(e))),
    {
      halfOpenAfter: opts.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(opts.breakerThreshold),
    },
  );
  const retrying = retry(
    handleWhen(
      (err) =>
        !(err instanceof BrokenCircuitError) &&
        (opts.isThrottle(asError(err)) || opts.isTransient(asError(err))),
    ),
    {
      maxAttempts: opts.maxAttempts - 1,
      backoff: new ExponentialBackoff({
        initialDelay: opts.initialDelayMs,
        maxDelay: opts.maxDelayMs,
      }),
    },
  );
  const policy: IPolicy = wrap(retrying, breaker);
  const states = ['closed', 'open', 'halfOpen', 'isolated'];
  return {
    run: async <T>(operation: string, fn: () => Promise<T>): Promise<T> => {
      try {
        return await policy.execute(fn);
      } catch (err) {
        if (err instanceof BrokenCircuitError) {
          throw new UnavailableError('cloud_unavailable', `${operation}: circuit open`, undefined, {
            cause: err,
          });
        }
        if (err instanceof Error && opts.isThrottle(err)) {
          throw new UnavailableError('cloud_throttled', `${operation}: throttled`, undefined, {
            cause: err,
          });
        }
        throw err;
      }
    },
    breakerState: () => states[breaker.state] ?? String(breaker.state),
  };
}
