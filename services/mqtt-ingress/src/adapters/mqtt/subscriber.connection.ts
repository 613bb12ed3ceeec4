// One shared-subscription connection. mqtt.js processes a connection's packets one at a time
// and sends a QoS 1 PUBACK only when `handleMessage` calls back, so the ack waits for
// JetStream and the connection reads nothing else meanwhile (back-pressure for free).
// With `pipeline` above 1, the connection reads on while up to that many messages are being
// handled (see pipelineAcks): their PUBACKs still wait for their handlers and leave in the
// order the messages came, and the messages of one topic are handled one after another.
import type net from 'node:net';
import mqtt, { type IPublishPacket, type MqttClient, type Packet } from 'mqtt';
import { type Logger } from '@drover/observability';
import { jitteredBackoffMs } from '../../domain/backoff';
import { KeyedSerializer } from '../../keyed-serializer';
import { type MqttTlsOptions, tlsConnectOptions } from './broker';

/**
 * Handles one message; resolving acknowledges it to the broker. It rejects (with
 * {@link StoppingError}) only when the service stops mid-message: the message is then left
 * unacknowledged, and the broker redelivers it from the session.
 */
export type MessageSink = (topic: string, payload: Buffer, contentType?: string) => Promise<void>;

/** Thrown to leave a message unacknowledged because the service is stopping. */
export class StoppingError extends Error {
  constructor() {
    super('ingress stopping');
  }
}

/** Options of `openSubscriber`. */
export interface SubscriberOptions {
  /** Broker URL. */
  url: string;
  /** TLS client settings for an `mqtts://` URL (see broker.ts). */
  tls?: MqttTlsOptions;
  /** Fixed client id: the persistent session is found again after a restart. */
  clientId: string;
  /** Subscription filters (QoS 1). */
  filters: string[];
  /**
   * Filters this client id no longer takes: a persistent session keeps the subscriptions of an
   * older version, so a resumed session unsubscribes them before subscribing.
   */
  dropFilters?: string[];
  /** Message handler. */
  sink: MessageSink;
  /** Logger. */
  logger: Logger;
  /**
   * Messages handled at once (default 1). Above 1 the PUBACK of each still waits for its
   * handler, and they go out in the order the messages came; one topic's messages (one
   * device's channel) are handled one after another.
   */
  pipeline?: number;
}

/** A live subscriber connection. */
export interface Subscriber {
  /** The mqtt.js client. */
  client: MqttClient;
  /** Resolves once the first subscription is granted. */
  ready: Promise<void>;
  /** Messages left unacknowledged because the sink refused them (the service stopping). */
  unacked(): number;
  /**
   * Gives the subscriptions up (and takes none again on a reconnect); messages the session
   * already holds still come. Resolves true once the broker confirmed it, false when it did not
   * within `timeoutMs` (the subscriptions may then stay).
   */
  unsubscribe(timeoutMs: number): Promise<boolean>;
  /** Disconnects; unacknowledged messages stay in the broker's session. */
  close(force?: boolean): Promise<void>;
}

/** Sets TCP no-delay: Nagle plus delayed ACK otherwise adds ~40 ms to every QoS 1 round trip. */
export function setNoDelay(client: MqttClient): void {
  const stream = client.stream as unknown as net.Socket | undefined;
  stream?.setNoDelay?.(true);
}

/** Connects with clean session false and subscribes; reconnects with jittered back-off. */
export function openSubscriber(opts: SubscriberOptions): Subscriber {
  const client = mqtt.connect(opts.url, {
    clientId: opts.clientId,
    clean: false,
    protocolVersion: 4,
    keepalive: 60,
    reconnectPeriod: 1000,
    connectTimeout: 10000,
    resubscribe: true,
    ...tlsConnectOptions(opts.tls),
  });
  let attempt = 0;
  // Set once the subscriptions were given up: a reconnect then only drains the session.
  let left = false;
  // A message the sink refuses stays unacknowledged. Every connection of a stop under load
  // leaves one, which is expected: counted here and told once by the service; any other
  // refusal is a bug and is logged as such.
  let unacked = 0;
  const refused = (err: unknown) => {
    unacked += 1;
    if (err instanceof StoppingError) return;
    opts.logger.error({ event: 'mqtt.message_unacked', err }, 'not acked');
  };
  const sink = (packet: IPublishPacket) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    return opts.sink(packet.topic, payload, packet.properties?.contentType);
  };
  const depth = opts.pipeline ?? 1;
  const pipelined = depth > 1 ? pipelineAcks(client, depth) : null;
  if (depth > 1 && pipelined === null) {
    opts.logger.warn({ event: 'mqtt.pipeline_unavailable' }, 'handling one message at a time');
  }
  if (pipelined !== null) {
    const order = new KeyedSerializer();
    client.handleMessage = (packet, done) => {
      const handled = order
        .run(packet.topic, () => sink(packet))
        .then(
          () => true,
          (err: unknown) => {
            refused(err);
            return false;
          },
        );
      // QoS 0 (not what the device protocol sends, but possible) has no PUBACK to hold: such a
      // message holds the connection until handled, as without a pipeline.
      if (packet.qos === 1) {
        pipelined.handling(packet, handled);
        done();
      } else {
        void handled.then((ok) => ok && done());
      }
    };
  } else {
    client.handleMessage = (packet, done) => {
      sink(packet).then(() => done(), refused);
    };
  }
  client.on('close', () => {
    attempt += 1;
    client.options.reconnectPeriod = 500 + jitteredBackoffMs(attempt, 1000, 30000);
  });
  client.on('error', (err) => opts.logger.warn({ event: 'mqtt.error', err }, 'mqtt error'));
  const ready = new Promise<void>((resolve, reject) => {
    client.on('connect', (connack) => {
      attempt = 0;
      setNoDelay(client);
      opts.logger.info(
        { event: 'mqtt.connected', client_id: opts.clientId, session: connack.sessionPresent },
        'connected',
      );
      if (left) return;
      const drop = connack.sessionPresent ? (opts.dropFilters ?? []) : [];
      if (drop.length > 0) {
        // Sent before the SUBSCRIBE: the broker handles them in order, so `ready` follows both.
        client.unsubscribe(drop, (err) => {
          if (err) opts.logger.warn({ event: 'mqtt.unsubscribe_failed', err }, 'unsubscribe');
        });
      }
      client.subscribe(opts.filters, { qos: 1 }, (err) => (err ? reject(err) : resolve()));
    });
  });
  ready.catch((err: unknown) => opts.logger.error({ event: 'mqtt.subscribe_failed', err }, 'sub'));
  return {
    client,
    ready,
    unacked: () => unacked,
    unsubscribe: async (timeoutMs) => {
      left = true;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const done = client.unsubscribeAsync(opts.filters).then(
        () => true,
        (err: unknown) => {
          opts.logger.warn({ event: 'mqtt.unsubscribe_failed', err }, 'unsubscribe');
          return false;
        },
      );
      try {
        return await Promise.race([done, timedOut]);
      } finally {
        clearTimeout(timer);
      }
    },
    close: (force = false) =>
      new Promise<void>((resolve) => client.end(force, {}, () => resolve())),
  };
}

type SendPacket = (packet: Packet, cb?: (err?: Error) => void, ...rest: unknown[]) => void;

/** What {@link pipelineAcks} needs told about each message. */
interface AckPipeline {
  /** QoS 1 `packet` is being handled; its PUBACK may go once `handled` resolves to true. */
  handling(packet: IPublishPacket, handled: Promise<boolean>): void;
}

/**
 * Lets `client` read on while up to `depth` QoS 1 messages are being handled, or returns null
 * when this mqtt.js does not have the shape relied on. mqtt.js sends a message's PUBACK as soon
 * as `handleMessage` calls back, and reads the next packet only once that PUBACK is written;
 * here `handleMessage` calls back at once and the PUBACK is held instead (taken from the
 * client's `_sendPacket`), until the message's handler has finished and every earlier PUBACK has
 * gone: MQTT wants them in the order the messages came (3.1.1, 4.6). A message whose handler
 * never finishes (the service stopping) keeps its PUBACK and the later ones: the broker sends
 * them again to the next session. While `depth` PUBACKs wait, the next packet waits too.
 */
function pipelineAcks(client: MqttClient, depth: number): AckPipeline | null {
  const target = client as unknown as { _sendPacket?: SendPacket };
  const send = target._sendPacket;
  if (typeof send !== 'function') return null;
  interface Held {
    messageId: number;
    handled: boolean;
    puback?: Packet;
  }
  const held: Held[] = [];
  const byId = new Map<number, Held>();
  let paused: (() => void) | null = null;
  const flush = () => {
    while (held.length > 0 && held[0]?.handled === true && held[0].puback !== undefined) {
      const next = held.shift() as Held;
      send.call(client, next.puback as Packet);
    }
    if (paused !== null && held.length < depth) {
      const resume = paused;
      paused = null;
      resume();
    }
  };
  target._sendPacket = function sendPacket(packet, cb, ...rest) {
    const messageId = (packet as { messageId?: number }).messageId;
    const entry = packet.cmd === 'puback' && messageId !== undefined && byId.get(messageId);
    if (!entry) {
      send.call(client, packet, cb, ...rest);
      return;
    }
    byId.delete(entry.messageId);
    entry.puback = packet;
    // The connection reads its next packet now, unless `depth` messages are unacknowledged.
    if (held.length < depth) cb?.();
    else paused = () => cb?.();
    flush();
  };
  client.on('close', () => {
    // PUBACKs of a lost connection are useless (the broker sends those messages again), and
    // its reading has ended.
    held.length = 0;
    byId.clear();
    paused = null;
  });
  return {
    handling(packet, handled) {
      if (packet.messageId === undefined) return;
      const entry: Held = { messageId: packet.messageId, handled: false };
      held.push(entry);
      byId.set(packet.messageId, entry);
      void handled.then((ok) => {
        if (!ok) return;
        entry.handled = true;
        flush();
      });
    },
  };
}
