// The rollout engine's series.
import { type Metrics } from '@drover/observability';

// prom-client's types through the observability package (no direct dependency).
type Counter<L extends string> = ReturnType<Metrics['counter']> & {
  inc(labels: Partial<Record<L, string>>, value?: number): void;
};
type Histogram<L extends string> = ReturnType<Metrics['histogram']> & {
  observe(labels: Partial<Record<L, string>>, value: number): void;
};

/** Every series of the engine. */
export interface RolloutMetrics {
  /** Duration of one driver step, by what it did (dispatch, start_stage, wait, rollback, ...). */
  steps: Histogram<'decision'>;
  /** firmware.update / firmware.rollback commands by outcome (sent, refused, retry). */
  commands: Counter<'kind' | 'outcome'>;
}

const BUCKETS = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30];

/** Registers the series on a metrics registry. */
export function rolloutMetrics(m: Metrics): RolloutMetrics {
  return {
    steps: m.histogram(
      'drover_rollout_step_seconds',
      'One step of the rollout driver for one deployment',
      ['decision'],
      BUCKETS,
    ) as RolloutMetrics['steps'],
    commands: m.counter(
      'drover_rollout_commands_total',
      'firmware.update and firmware.rollback commands created through the command gateway',
      ['kind', 'outcome'],
    ) as RolloutMetrics['commands'],
  };
}
