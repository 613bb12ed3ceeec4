import { context as otelContext } from '@opentelemetry/api';
import { type ConsumerMessages, type JsMsg } from 'nats';
import { extractTraceContext, newCorrelationId, runWithContext } from '@drover/observability';
import { type Bus, type BusLogger } from './connect';
import { ensureDurable, type DurableSpec } from './consumer-config';
import { errorCode, publishDlq } from './dlq';
import { isRetryable } from './errors';
import { HEADERS } from './headers';
import { subjectMatches, toBusMessage, type BusMessage } from './message';
import { resolveStreamName } from './streams';
import { Slots } from './slots';

/** Options of {@link consume}. */
export interface ConsumeOptions {
  /** Stream to read: logical (`EVENTS`) or already namespaced. */
  stream: string;
  /** Durable consumer name (unique per service and purpose). */
  durable: string;
  /** Subjects (namespaced, wildcards allowed) to receive; empty or absent: the whole stream. */
  filterSubjects?: string[];
  /** Handlers running at once; also the most messages pulled ahead. */
  concurrency?: number;
  /** Deliveries before a failing message goes to the DLQ. */
  maxDeliver?: number;
  /** Delay before redelivery after the n-th failed delivery (last value repeats). */
  backoffMs?: number[];
  /** Server-side ack timeout; long handlers are kept alive with `working()`. */
  ackWaitMs?: number;
  /**
   * Handles one message; resolve = ack, throw = nak (transient) or DLQ (otherwise), resolve
   * with {@link HandleAgain} = done for now, deliver it again after a delay (within
   * `maxDeliver` deliveries; `msg.deliveryCount` tells which one this is).
   */
  handler: (msg: BusMessage) => Promise<void | HandleAgain>;
  /** Logger for failures and recoveries; defaults to the bus logger. */
  logger?: BusLogger;
  /** How long one pull waits for messages before it is renewed (≥ 1000). */
  fetchExpiresMs?: number;
}

/** A handler's answer: handled, but deliver the message again in `againInMs`. */
export interface HandleAgain {
  againInMs: number;
}

/** A running consume loop. */
export interface Consumer {
  /** Stops pulling, waits for in-flight handlers, and ends the loop. */
  stop(): Promise<void>;
}

/** Server versions before 2.10 have no `filter_subjects`: filter in the client instead. */
function serverHasMultiFilter(bus: Bus): boolean {
  const [major = 0, minor = 0] = (bus.nc.info?.version ?? '0.0').split('.').map(Number);
  return major > 2 || (major === 2 && minor >= 10);
}

function delayFor(backoffMs: number[], deliveryCount: number): number {
  const i = Math.min(Math.max(deliveryCount - 1, 0), backoffMs.length - 1);
  return backoffMs[i] ?? 1000;
}

/**
 * Runs a durable pull consumer with explicit acks and bounded concurrency: it fetches only as
 * many messages as there are free handler slots. After a NATS restart or a lost consumer the
 * fetch fails; the loop then re-ensures stream and consumer and resumes with jittered back-off.
 */
export async function consume(bus: Bus, opts: ConsumeOptions): Promise<Consumer> {
  const logger = opts.logger ?? bus.logger;
  const concurrency = opts.concurrency ?? 16;
  const maxDeliver = opts.maxDeliver ?? 5;
  const backoffMs = opts.backoffMs ?? [1000, 5000, 15000, 30000];
  const ackWaitMs = opts.ackWaitMs ?? 30000;
  const filters = opts.filterSubjects ?? [];
  const clientFilter = filters.length > 1 && !serverHasMultiFilter(bus);
  const spec: DurableSpec = {
    stream: opts.stream,
    streamName: resolveStreamName(bus.naming, opts.stream),
    durable: opts.durable,
    serverFilters: clientFilter ? [] : filters,
    maxDeliver,
    ackWaitMs,
    maxAckPending: Math.max(concurrency * 4, 64),
  };
  const log = { stream: spec.streamName, consumer: spec.durable };
  await ensureDurable(bus, spec);

  const slots = new Slots(concurrency);
  let stopped = false;
  let current: ConsumerMessages | null = null;
  let wakeSleep: (() => void) | null = null;

  const handle = async (m: JsMsg): Promise<void> => {
    const msg = toBusMessage(m);
    if (clientFilter && !filters.some((f) => subjectMatches(f, msg.subject))) {
      m.ack();
      return;
    }
    // Keep the server from redelivering while a slow handler still works on it.
    const keepAlive = setInterval(() => m.working(), Math.max(ackWaitMs / 2, 500));
    keepAlive.unref();
    try {
      const traceCtx = extractTraceContext((k) => msg.headers[k]);
      const correlationId = msg.headers[HEADERS.correlationId] || newCorrelationId();
      const answer = await otelContext.with(traceCtx, () =>
        runWithContext({ correlationId }, () => opts.handler(msg)),
      );
      if (answer) m.nak(answer.againInMs);
      else m.ack();
    } catch (err) {
      await onFailure(m, msg, err);
    } finally {
      clearInterval(keepAlive);
    }
  };

  const onFailure = async (m: JsMsg, msg: BusMessage, err: unknown): Promise<void> => {
    const message = err instanceof Error ? err.message : String(err);
    const fields = { ...log, subject: msg.subject, seq: msg.seq, delivery: msg.deliveryCount };
    const retryable = isRetryable(err);
    if (retryable && msg.deliveryCount < maxDeliver) {
      const delay = delayFor(backoffMs, msg.deliveryCount);
      logger.warn({ ...fields, event: 'bus.message_retry', delay_ms: delay, err: message }, 'nak');
      m.nak(delay);
      return;
    }
    const reason = retryable ? `max_deliver: ${message}` : `permanent_error: ${message}`;
    try {
      await publishDlq(bus, opts.stream, opts.durable, msg, reason, err);
      m.term(reason.slice(0, 200));
      logger.error(
        { ...fields, event: 'bus.message_dead_lettered', error_code: errorCode(err), reason },
        'message sent to the DLQ',
      );
    } catch (dlqErr) {
      // Without a DLQ record we must not drop it: let the server deliver it again later.
      logger.error(
        { ...fields, event: 'bus.dlq_publish_failed', err: String(dlqErr), reason },
        'DLQ publish failed; message nak-ed',
      );
      m.nak(delayFor(backoffMs, msg.deliveryCount));
    }
  };

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms);
      wakeSleep = () => {
        clearTimeout(t);
        resolve();
      };
    });

  const pullLoop = async (): Promise<void> => {
    const consumer = await bus.js.consumers.get(spec.streamName, spec.durable);
    while (!stopped) {
      await slots.waitFree();
      if (stopped) return;
      const expires = opts.fetchExpiresMs ?? 5000;
      current = await consumer.fetch({ max_messages: slots.free, expires });
      for await (const m of current) {
        slots.take();
        void handle(m).finally(() => slots.release());
      }
      current = null;
    }
  };

  const run = async (): Promise<void> => {
    let attempt = 0;
    let needsEnsure = false;
    while (!stopped && !bus.nc.isClosed()) {
      try {
        if (needsEnsure) await ensureDurable(bus, spec);
        if (needsEnsure) logger.info({ ...log, event: 'bus.consumer_resumed' }, 'resumed');
        attempt = 0;
        await pullLoop();
      } catch (err) {
        if (stopped || bus.nc.isClosed()) break;
        needsEnsure = true;
        const wait = Math.min(500 * 2 ** attempt, 15000) * (0.5 + Math.random());
        attempt = Math.min(attempt + 1, 10);
        logger.warn(
          { ...log, event: 'bus.consumer_recovering', err: String(err), wait_ms: Math.round(wait) },
          'consume loop failed; re-ensuring stream and consumer',
        );
        await sleep(wait);
      }
    }
  };

  const loop = run();
  return {
    stop: async () => {
      if (stopped) return loop;
      stopped = true;
      current?.stop();
      slots.wake();
      wakeSleep?.();
      await loop;
      await slots.waitIdle();
    },
  };
}
