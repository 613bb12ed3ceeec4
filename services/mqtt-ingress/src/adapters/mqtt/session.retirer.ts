// Retires one persistent session nobody will open again (domain/session-ledger.ts): connects
// with its client id, gives its subscriptions up, handles what it held (each message acked only
// once handled, as on every connection) until none came for a while, and disconnects. The
// session stays on the broker without subscriptions, so nothing more is queued in it, until
// the broker expires it. Never reconnects: if the session's owner comes back, its connection
// takes this one over and the retirement stops; what was not acked stays in the session.
import mqtt, { type IPublishPacket } from 'mqtt';
import { type Logger } from '@drover/observability';
import { type MqttTlsOptions, tlsConnectOptions } from './broker';
import { type MessageSink } from './subscriber.connection';

/** Options of {@link retireSession}. */
export interface RetireOptions {
  url: string;
  tls?: MqttTlsOptions;
  clientId: string;
  /** The subscriptions to give up. */
  filters: string[];
  /** Handles each message the session held; resolving acks it. */
  sink: MessageSink;
  /** Done once no message came for this long and none is being handled. */
  quietMs: number;
  /** Gives up (disconnects, leaving the rest in the session) after this long. */
  maxMs: number;
  /** Aborts (the service stopping): disconnects, leaving the rest in the session. */
  signal?: AbortSignal;
  logger: Logger;
}

/** How a retirement went. */
export interface Retired {
  /** The broker still had the session. */
  present: boolean;
  /** Messages handled. */
  handled: number;
  /**
   * Subscriptions given up and every message it held handled (false: taken over, aborted, timed
   * out, a message refused: the next sweep tries again).
   */
  complete: boolean;
}

/** Retires the session of `opts.clientId`. */
export async function retireSession(opts: RetireOptions): Promise<Retired> {
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    clean: false,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 10000,
    ...tlsConnectOptions(opts.tls),
  });
  let handled = 0;
  let inFlight = 0;
  let last = Date.now();
  let refused = 0;
  let closed = false;
  client.handleMessage = (packet: IPublishPacket, done) => {
    inFlight += 1;
    last = Date.now();
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    opts.sink(packet.topic, payload, packet.properties?.contentType).then(
      () => {
        handled += 1;
        inFlight -= 1;
        last = Date.now();
        done();
      },
      (err: unknown) => {
        // Left unacked (and the connection reads no further): the broker sends it again to
        // whoever opens the session next, so the retirement is not complete.
        inFlight -= 1;
        refused += 1;
        opts.logger.warn({ event: 'ingress.retire_unacked', err: String(err) }, 'not acked');
      },
    );
  };
  client.on('close', () => {
    closed = true;
  });
  client.on('error', (err) =>
    opts.logger.warn({ event: 'ingress.retire_error', client_id: opts.clientId, err }, 'mqtt'),
  );
  const end = () => new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
  const start = Date.now();
  const over = () => closed || opts.signal?.aborted === true || Date.now() - start > opts.maxMs;
  try {
    const connack = await new Promise<{ sessionPresent: boolean } | null>((resolve) => {
      client.once('connect', (c) => resolve(c));
      client.once('close', () => resolve(null));
    });
    if (connack === null) return { present: false, handled, complete: false };
    if (!connack.sessionPresent) return { present: false, handled, complete: true };
    if (opts.filters.length > 0) await client.unsubscribeAsync(opts.filters);
    last = Math.max(last, Date.now());
    while (!over() && (inFlight > 0 || Date.now() - last < opts.quietMs)) {
      await new Promise((r) => setTimeout(r, 10));
    }
    return { present: true, handled, complete: !over() && refused === 0 };
  } finally {
    await end();
  }
}
