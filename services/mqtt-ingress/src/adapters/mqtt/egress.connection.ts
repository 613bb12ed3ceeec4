// The platform → device direction: commands (QoS 1) and desired state (QoS 1, retained).
import mqtt, { type MqttClient } from 'mqtt';
import { type Logger } from '@drover/observability';
import { setNoDelay } from './subscriber.connection';
import { type MqttTlsOptions, tlsConnectOptions } from './broker';

/** Publishes to devices; resolves after the broker's PUBACK. */
export interface Egress {
  /** Publishes `payload` on `topic` with QoS 1. */
  publish(topic: string, payload: Buffer | string, retain: boolean): Promise<void>;
  /** Disconnects. */
  close(): Promise<void>;
}

/** Connects the egress client (its own fixed client id, never a subscriber). */
export function openEgress(
  url: string,
  clientId: string,
  logger: Logger,
  tls?: MqttTlsOptions,
): Egress {
  const client: MqttClient = mqtt.connect(url, {
    clientId,
    clean: true,
    protocolVersion: 4,
    keepalive: 60,
    reconnectPeriod: 1000,
    ...tlsConnectOptions(tls),
  });
  client.on('connect', () => setNoDelay(client));
  client.on('error', (err) => logger.warn({ event: 'mqtt.egress_error', err }, 'egress error'));
  return {
    async publish(topic, payload, retain) {
      await client.publishAsync(topic, payload, { qos: 1, retain });
    },
    close: () => new Promise<void>((resolve) => client.end(false, {}, () => resolve())),
  };
}
