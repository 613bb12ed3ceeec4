// One shared-subscription connection. mqtt.js processes a connection's packets one at a time
// and sends a QoS 1 PUBACK only when `handleMessage` calls back, so the ack waits for
// JetStream and the connection reads nothing else meanwhile (back-pressure for free).
import type net from 'node:net';
import mqtt, { type MqttClient } from 'mqtt';
import { type Logger } from '@drover/observability';
import { jitteredBackoffMs } from '../../domain/backoff';
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
}

/** A live subscriber connection. */
export interface Subscriber {
  /** The mqtt.js client. */
  client: MqttClient;
  /** Resolves once the first subscription is granted. */
  ready: Promise<void>;
  /** Messages left unacknowledged because the sink refused them (the service stopping). */
  unacked(): number;
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
  // A message the sink refuses stays unacknowledged. Every connection of a stop under load
  // leaves one, which is expected: counted here and told once by the service; any other
  // refusal is a bug and is logged as such.
  let unacked = 0;
  client.handleMessage = (packet, done) => {
    const payload = Buffer.isBuffer(packet.payload) ? packet.payload : Buffer.from(packet.payload);
    opts.sink(packet.topic, payload, packet.properties?.contentType).then(
      () => done(),
      (err: unknown) => {
        unacked += 1;
        if (err instanceof StoppingError) return;
        opts.logger.error({ event: 'mqtt.message_unacked', err }, 'not acked');
      },
    );
  };
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
    close: (force = false) =>
      new Promise<void>((resolve) => client.end(force, {}, () => resolve())),
  };
}
