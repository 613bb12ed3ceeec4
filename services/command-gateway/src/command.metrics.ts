// The gateway's series. Names are the ones deploy/prometheus/alerts.yml relies on.
import { type Metrics } from '@drover/observability';

// prom-client's types through the observability package (no direct dependency).
type Counter<L extends string> = ReturnType<Metrics['counter']> & {
  inc(labels: Partial<Record<L, string>>, value?: number): void;
};
type Histogram<L extends string> = ReturnType<Metrics['histogram']> & {
  observe(labels: Partial<Record<L, string>>, value: number): void;
};

/** Every series of the gateway. */
export interface CommandMetrics {
  /** Commands by final outcome. */
  commands: Counter<'outcome'>;
  /** Accepted by the API (created) -> final result. */
  roundTrip: Histogram<'outcome'>;
  /** Sent (broker ack) -> final result. */
  mqttRoundTrip: Histogram<'outcome'>;
  /** Device answers or reports left without effect (duplicate, late). */
  ignored: Counter<'kind' | 'reason'>;
  /** Device answers or reports refused (unknown command). */
  refused: Counter<'kind' | 'reason'>;
  /** Hand-overs to the bus (first sends and resends). */
  dispatches: Counter<'kind'>;
}

const BUCKETS = [0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60];

/** Registers the series on a metrics registry. */
export function commandMetrics(m: Metrics): CommandMetrics {
  return {
    commands: m.counter('drover_commands_total', 'Commands by final outcome', ['outcome']),
    roundTrip: m.histogram(
      'drover_command_round_trip_seconds',
      'Command accepted by the API until its final result',
      ['outcome'],
      BUCKETS,
    ),
    mqttRoundTrip: m.histogram(
      'drover_command_mqtt_round_trip_seconds',
      'Command sent to the device (broker ack) until its final result',
      ['outcome'],
      BUCKETS,
    ),
    ignored: m.counter('drover_command_reports_ignored_total', 'Reports without effect', [
      'kind',
      'reason',
    ]),
    refused: m.counter('drover_command_reports_refused_total', 'Reports refused', [
      'kind',
      'reason',
    ]),
    dispatches: m.counter('drover_command_dispatches_total', 'Commands handed to the bus', [
      'kind',
    ]),
  };
}
