// JetStream publishes without a request object per message. `js.publish` builds a request
// (a pre-made timeout error with its stack, a timer, a promise chain) for every call: a fifth of
// the ingress's CPU at load. Here every publish is a core NATS publish whose reply subject is a
// token under one shared inbox subscription; the stream's PubAck (or error) arrives there and
// settles the publish. One sweep timer fails publishes whose ack is overdue, so the caller
// retries them (the `Nats-Msg-Id` makes a retry of a stored message a duplicate, not a copy).
// Used by the mqtt-ingress (telemetry, cmd_sent reports) and the outbox relay; `Bus.pipeline()`
// is the bus's shared one.
import {
  createInbox,
  headers as natsHeaders,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from 'nats';

/** A stream's answer to one publish. */
export interface PipelinedAck {
  /** The stream that stored it. */
  stream: string;
  /** Its sequence in the stream. */
  seq: number;
  /** True when the stream already had this `Nats-Msg-Id` (nothing stored). */
  duplicate: boolean;
}

/** Why a pipelined publish failed (always worth a retry by the caller's policy). */
export class PipelinedPublishError extends Error {
  constructor(
    message: string,
    /** `timeout`, `no_responders`, `closed`, or the JetStream API error code. */
    readonly code: string,
    /** The JetStream API error of the answer, when the stream refused the message. */
    readonly apiError?: { code?: number; err_code?: number; description?: string },
  ) {
    super(message);
    this.name = 'PipelinedPublishError';
  }
}

/** Options of `createJsPipeline`. */
export interface JsPipelineOptions {
  /** A publish whose ack has not come after this long fails with `timeout` (default 5000). */
  timeoutMs?: number;
}

/** Many JetStream publishes in flight on one connection. */
export interface JsPipeline {
  /** Publishes with `Nats-Msg-Id` (and any extra headers); resolves on the stream's ack. */
  publish(
    subject: string,
    data: Uint8Array,
    msgId: string,
    extraHeaders?: Record<string, string>,
  ): Promise<PipelinedAck>;
  /**
   * Publishes with headers built by the caller, which must carry `Nats-Msg-Id` and must not be
   * reused for another message (saves a copy when the caller builds them anyway).
   */
  publishWithHeaders(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<PipelinedAck>;
  /** Publishes whose ack is still awaited. */
  pending(): number;
  /** Waits until no ack is awaited (each one comes or times out), then closes. */
  drain(): Promise<void>;
  /** Fails every pending publish and stops listening. */
  close(): void;
}

interface Waiter {
  resolve(ack: PipelinedAck): void;
  reject(err: Error): void;
  deadline: number;
}

const decoder = new TextDecoder();

/**
 * Builds a pipeline on a connected NATS connection. It closes itself when the connection
 * closes. Publishes go out in call order on the connection, so a stream stores them in that
 * order.
 */
export function createJsPipeline(nc: NatsConnection, opts: JsPipelineOptions = {}): JsPipeline {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const inbox = createInbox();
  const waiters = new Map<string, Waiter>();
  let next = 0;
  let closed = false;
  let idle: (() => void) | null = null;
  // Publishes of one event-loop turn go out together: nats.js then writes them to the socket
  // in one call instead of one syscall each (messages arrive in separate ticks, one per MQTT
  // packet, so they would not coalesce on their own).
  let queue: { subject: string; data: Uint8Array; token: string; h: MsgHdrs }[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const batch = queue;
    queue = [];
    for (const q of batch) {
      if (!waiters.has(q.token)) continue; // failed meanwhile (closed)
      try {
        nc.publish(q.subject, q.data, { reply: `${inbox}.${q.token}`, headers: q.h });
      } catch (err) {
        const w = waiters.get(q.token);
        waiters.delete(q.token);
        w?.reject(new PipelinedPublishError(`publish failed: ${String(err)}`, 'closed'));
        if (idle !== null && waiters.size === 0) idle();
      }
    }
  };

  const settle = (token: string, data: Uint8Array, status: number | undefined): void => {
    const w = waiters.get(token);
    if (w === undefined) return; // already timed out: the caller retried it
    waiters.delete(token);
    if (data.length === 0 && status === 503) {
      w.reject(new PipelinedPublishError('no stream listens on the subject', 'no_responders'));
      return;
    }
    let body: {
      stream?: string;
      seq?: number;
      duplicate?: boolean;
      error?: { code?: number; err_code?: number; description?: string };
    };
    try {
      body = JSON.parse(decoder.decode(data)) as typeof body;
    } catch (err) {
      w.reject(new PipelinedPublishError(`unreadable PubAck: ${String(err)}`, 'bad_ack'));
      return;
    }
    if (body.error !== undefined || typeof body.seq !== 'number') {
      const code = String(body.error?.err_code ?? body.error?.code ?? 'bad_ack');
      w.reject(
        new PipelinedPublishError(body.error?.description ?? 'JetStream error', code, body.error),
      );
      return;
    }
    w.resolve({ stream: body.stream ?? '', seq: body.seq, duplicate: body.duplicate === true });
  };

  const sub: Subscription = nc.subscribe(`${inbox}.*`, {
    callback: (err, msg) => {
      if (err !== null) return; // the subscription ended: close() or the connection closed
      settle(msg.subject.slice(inbox.length + 1), msg.data, msg.headers?.code);
      if (idle !== null && waiters.size === 0) idle();
    },
  });

  const failAll = (err: PipelinedPublishError, onlyOverdue: boolean): void => {
    const now = Date.now();
    for (const [token, w] of waiters) {
      if (onlyOverdue && w.deadline > now) continue;
      waiters.delete(token);
      w.reject(err);
    }
    if (idle !== null && waiters.size === 0) idle();
  };
  const sweeper = setInterval(
    () => failAll(new PipelinedPublishError(`no PubAck within ${timeoutMs} ms`, 'timeout'), true),
    Math.max(Math.min(timeoutMs / 4, 1000), 10),
  );
  sweeper.unref();

  const close = (): void => {
    closed = true;
    clearInterval(sweeper);
    if (!nc.isClosed()) sub.unsubscribe();
    failAll(new PipelinedPublishError('publisher closed', 'closed'), false);
  };
  nc.closed().then(close, close);

  const send = (subject: string, data: Uint8Array, h: MsgHdrs): Promise<PipelinedAck> => {
    if (closed || nc.isClosed()) {
      return Promise.reject(new PipelinedPublishError('publisher closed', 'closed'));
    }
    next = (next + 1) % Number.MAX_SAFE_INTEGER;
    const token = next.toString(36);
    return new Promise<PipelinedAck>((resolve, reject) => {
      waiters.set(token, { resolve, reject, deadline: Date.now() + timeoutMs });
      queue.push({ subject, data, token, h });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
  };

  return {
    publish(subject, data, msgId, extraHeaders) {
      const h = natsHeaders();
      h.set('Nats-Msg-Id', msgId);
      if (extraHeaders !== undefined) {
        for (const k of Object.keys(extraHeaders)) h.set(k, extraHeaders[k] as string);
      }
      return send(subject, data, h);
    },
    publishWithHeaders: send,
    pending: () => waiters.size,
    async drain() {
      if (waiters.size > 0 && !closed) {
        await new Promise<void>((resolve) => {
          idle = resolve;
        });
        idle = null;
      }
      close();
    },
    close,
  };
}
