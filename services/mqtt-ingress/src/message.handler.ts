// One MQTT message end to end: route it, publish it (retrying transient failures for as long as
// it takes, which also stops this connection from reading: back-pressure), or report a reject.
import { type Logger } from '@drover/observability';
import { jitteredBackoffMs } from './domain/backoff';
import { type RouteLimits, parseIngressTopic, routeMessage } from './domain/message-router';
import { type TokenBucket } from './domain/rate-limit';
import { type DeviceMetaLookup } from './adapters/registry/device-meta.cache';
import { type IngressPublisher } from './adapters/nats/ingress.publisher';
import { type MessageSink, StoppingError } from './adapters/mqtt/subscriber.connection';
import { type IngressMetrics } from './ingress.metrics';

/** What the handler needs. */
export interface MessageHandlerDeps {
  /** Topic prefix ('' = none). */
  prefix: string;
  /** Payload limits. */
  limits: RouteLimits;
  /** Registry lookups. */
  meta: DeviceMetaLookup;
  /** Bus writes. */
  publisher: IngressPublisher;
  /** Budget for reject reports. */
  rejectBudget: TokenBucket;
  /** Series. */
  metrics: IngressMetrics;
  /** Logger. */
  logger: Logger;
  /** True once the service stops taking work. */
  isStopping(): boolean;
}

/** Builds the sink the subscriber connections call for every message. */
export function createMessageHandler(deps: MessageHandlerDeps): MessageSink & {
  /** Messages currently being handled. */
  inFlight(): number;
} {
  let inFlight = 0;
  // Labelled children looked up once per label value, not hashed per message.
  const received = new Map<string, { inc(): void }>();
  const published = new Map<string, { inc(): void }>();
  const child = (
    cache: Map<string, { inc(): void }>,
    make: (v: string) => { inc(): void },
    v: string,
  ) => {
    let c = cache.get(v);
    if (c === undefined) {
      c = make(v);
      cache.set(v, c);
    }
    return c;
  };
  const countReceived = (channel: string) =>
    child(received, (v) => deps.metrics.received.labels({ channel: v }), channel).inc();
  const countPublished = (kind: string) =>
    child(published, (v) => deps.metrics.published.labels({ kind: v }), kind).inc();

  async function retrying<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt += 1) {
      if (deps.isStopping()) throw new StoppingError();
      try {
        return await fn();
      } catch (err) {
        deps.metrics.retries.inc();
        if (attempt % 20 === 0) {
          deps.logger.warn({ event: 'ingress.retry', what, attempt, err }, 'transient failure');
        }
        await new Promise((r) => setTimeout(r, 50 + jitteredBackoffMs(attempt, 100, 5000)));
      }
    }
  }

  async function reject(report: Parameters<IngressPublisher['reject']>[0]): Promise<void> {
    deps.metrics.rejected.inc({ reason: report.reason });
    if (!deps.rejectBudget.take()) {
      deps.metrics.unreported.inc();
      return;
    }
    try {
      await deps.publisher.reject(report);
    } catch (err) {
      // A reject report is diagnostics; the counter above already has it.
      deps.logger.warn({ event: 'ingress.reject_report_failed', err }, 'reject not reported');
    }
  }

  async function handle(topic: string, payload: Buffer, contentType?: string): Promise<void> {
    const receivedAt = Date.now();
    if (deps.isStopping()) throw new StoppingError();
    const parsed = parseIngressTopic(topic, deps.prefix);
    if (parsed === null) {
      countReceived('unknown');
      await reject({
        topic,
        reason: 'bad_topic',
        detail: 'not a device topic',
        payload,
        receivedAt,
      });
      return;
    }
    countReceived(parsed.channel);
    const meta = await retrying('device_meta', () => deps.meta.get(parsed.tenant, parsed.deviceId));
    const route = routeMessage(parsed, meta, payload, deps.limits, receivedAt, contentType);
    if (route.kind === 'reject') {
      const { tenant, deviceId } = parsed;
      await reject({
        topic,
        tenant,
        deviceId,
        reason: route.reason,
        detail: route.detail,
        payload,
        receivedAt,
      });
      return;
    }
    await retrying('publish', async () => {
      const end = deps.metrics.publishSeconds.startTimer();
      await deps.publisher.route(route);
      end();
    });
    countPublished(route.kind === 'telemetry' ? 'telemetry' : route.subjectKind);
  }

  const sink = async (topic: string, payload: Buffer, contentType?: string): Promise<void> => {
    inFlight += 1;
    deps.metrics.inFlight.inc();
    try {
      await handle(topic, payload, contentType);
    } catch (err) {
      if (err instanceof StoppingError) throw err;
      // A bug must not stall the connection nor crash the service: count it and move on.
      deps.metrics.rejected.inc({ reason: 'internal' });
      deps.logger.error({ event: 'ingress.handler_failed', err }, 'message dropped');
    } finally {
      inFlight -= 1;
      deps.metrics.inFlight.dec();
    }
  };
  return Object.assign(sink, { inFlight: () => inFlight });
}
