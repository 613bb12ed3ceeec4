import { type Metrics } from '@drover/observability';

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** telemetry-ingest's Prometheus series. */
export function ingestMetrics(m: Metrics) {
  return {
    messagesIn: m.counter(
      'drover_telemetry_messages_in_total',
      'Telemetry records pulled from TELEMETRY (a batch message counts each record)',
    ),
    rowsOut: m.counter('drover_telemetry_rows_inserted_total', 'Rows committed (new)'),
    duplicates: m.counter('drover_telemetry_duplicates_total', 'Rows already stored'),
    rejected: m.counter('drover_telemetry_messages_rejected_total', 'Unusable messages', [
      'reason',
    ]),
    batchRows: m.histogram(
      'drover_telemetry_batch_rows',
      'Rows per insert',
      [],
      [1, 10, 50, 100, 250, 500, 1000, 2000, 5000, 10000],
    ),
    batchSeconds: m.histogram(
      'drover_telemetry_batch_seconds',
      'Insert and commit time',
      [],
      [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    ),
    writeRetries: m.counter('drover_telemetry_write_retries_total', 'Batch writes retried'),
    ingestLag: m.histogram(
      'drover_telemetry_ingest_lag_seconds',
      'Ingress receive time to committed row',
      [],
      LATENCY_BUCKETS,
    ),
    deviceLatency: m.histogram(
      'drover_telemetry_device_latency_seconds',
      'Device timestamp to committed row',
      [],
      LATENCY_BUCKETS,
    ),
    consumerPending: m.gauge(
      'drover_telemetry_consumer_pending',
      'Messages in TELEMETRY not yet delivered or not yet acked',
    ),
    latestErrors: m.counter('drover_telemetry_latest_errors_total', 'Latest-value cache failures'),
  };
}

/** The series object. */
export type IngestMetrics = ReturnType<typeof ingestMetrics>;
