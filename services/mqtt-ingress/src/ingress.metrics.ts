import { type Metrics } from '@drover/observability';

/** The ingress's Prometheus series. */
export function ingressMetrics(m: Metrics) {
  return {
    received: m.counter('drover_ingress_messages_received_total', 'MQTT messages in', ['channel']),
    published: m.counter('drover_ingress_messages_published_total', 'Onto the bus', ['kind']),
    rejected: m.counter('drover_ingress_messages_rejected_total', 'Refused', ['reason']),
    unreported: m.counter(
      'drover_ingress_rejects_unreported_total',
      'Rejects counted but not published (report budget spent)',
    ),
    retries: m.counter('drover_ingress_publish_retries_total', 'Transient failures retried'),
    publishSeconds: m.histogram(
      'drover_ingress_publish_seconds',
      'JetStream publish round trip',
      [],
      [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5],
    ),
    inFlight: m.gauge('drover_ingress_in_flight', 'Messages being handled'),
    commands: m.counter('drover_ingress_commands_sent_total', 'Sent to devices', ['kind']),
    sessionsRetired: m.counter(
      'drover_ingress_sessions_retired_total',
      'Persistent sessions nobody opens any more, retired (own: this replica no longer opens ' +
        'them; stale: of a replica that is gone)',
      ['reason'],
    ),
    retiredMessages: m.counter(
      'drover_ingress_retired_messages_total',
      'Messages the retired sessions held, handled',
    ),
  };
}

/** The ingress's metrics object. */
export type IngressMetrics = ReturnType<typeof ingressMetrics>;
