// The provisioning side of the MQTT bridge: `provisioning/<hw>/req` from bootstrap connections
// goes to the provisioning service (`provision` RPC) and its answer back on
// `provisioning/<hw>/res` (QoS 1); renewal answers from the DEVICE stream
// (`iot.device.<t>.cert_renew_res.<id>`) go to `<root>/cert/renew/res` (QoS 1).
// The plain development broker does not show the client's certificate, so no
// `bootstrap_cert_pem` is passed here: group enrollments need the REST path or a broker that
// forwards the bootstrap certificate.
import { type MqttClient } from 'mqtt';
import {
  busMessageCheckers,
  decodePayload,
  deviceFilter,
  deviceRoot,
  deviceTopic,
  parseProvisioningTopic,
  payloadCheckers,
  PROVISIONING_SERVICE,
  ProvisioningOps,
  provisioningRequestFilter,
  provisioningTopic,
  sharedSubscription,
} from '@drover/contracts';
import { type Bus, type Consumer, consume, rpcRequest } from '@drover/bus';
import { type Logger, newCorrelationId } from '@drover/observability';
import { DomainError, ValidationError } from '@drover/service-kit';

/** Durable consumer of renewal answers on DEVICE. */
export const CERT_RENEW_RES_DURABLE = 'mqtt-ingress-cert-renew-res';

/** Options of {@link startProvisioningBridge}. */
export interface ProvisioningBridgeOptions {
  /** The bus. */
  bus: Bus;
  /** A dedicated, connected MQTT client for the provisioning subscription. */
  subscriber: MqttClient;
  /** Publishes QoS 1 to devices (the ingress egress). */
  egress: { publish(topic: string, payload: Buffer | string, retain: boolean): Promise<void> };
  /** MQTT topic prefix ('' = none). */
  prefix: string;
  /** Shared-subscription group. */
  shareGroup: string;
  /** Largest accepted request. */
  maxBytes: number;
  /** Provisioning RPC timeout (signing and cloud calls take time). */
  rpcTimeoutMs?: number;
  /** Logger. */
  logger: Logger;
}

/** A running bridge. */
export interface ProvisioningBridge {
  /** Unsubscribes, waits for in-flight requests, stops the renewal consumer. */
  stop(): Promise<void>;
}

type Answer = Record<string, unknown>;

function errorAnswer(requestId: string, code: string, detail: string): Answer {
  return {
    msg_id: newCorrelationId(),
    ts: new Date().toISOString(),
    schema_version: 1,
    request_id: requestId,
    status: 'error',
    error: { code, detail },
  };
}

/** Starts the provisioning request bridge and the renewal-answer forwarder. */
export async function startProvisioningBridge(
  opts: ProvisioningBridgeOptions,
): Promise<ProvisioningBridge> {
  const { bus, subscriber, egress, logger } = opts;
  const prefix = opts.prefix || undefined;
  const inFlight = new Set<Promise<void>>();

  const answer = async (hardwareId: string, body: Answer) => {
    await egress.publish(provisioningTopic(hardwareId, 'res', prefix), JSON.stringify(body), false);
  };

  const handle = async (topic: string, payload: Buffer): Promise<void> => {
    const parsed = parseProvisioningTopic(topic, prefix);
    if (parsed === null || parsed.direction !== 'req') return;
    const decoded = decodePayload(payload, { maxBytes: opts.maxBytes });
    const value = decoded.ok ? decoded.value : undefined;
    const msgId = (value as { msg_id?: unknown } | undefined)?.msg_id;
    if (!decoded.ok || !payloadCheckers.ProvisioningRequest.check(value)) {
      const detail = decoded.ok ? 'not a provisioning request' : decoded.detail;
      logger.info({ event: 'provisioning.bad_request', detail }, 'bad provisioning request');
      // Without a msg_id the device could not match an answer: drop it.
      if (typeof msgId === 'string' && msgId.length > 0 && msgId.length <= 64) {
        await answer(parsed.hardwareId, errorAnswer(msgId, 'bad_request', detail));
      }
      return;
    }
    const req = value as { msg_id: string; device_type: string; csr?: string };
    let body: Answer;
    try {
      body = await rpcRequest<Answer>(
        bus,
        PROVISIONING_SERVICE,
        ProvisioningOps.provision,
        {
          hardware_id: parsed.hardwareId,
          device_type: req.device_type,
          ...(req.csr !== undefined && { csr: req.csr }),
          request_id: req.msg_id,
        },
        { timeoutMs: opts.rpcTimeoutMs ?? 15_000 },
      );
    } catch (err) {
      if (err instanceof DomainError) {
        body = errorAnswer(req.msg_id, err.code, err.detail);
      } else {
        logger.warn({ event: 'provisioning.forward_failed', err }, 'provisioning failed');
        body = errorAnswer(req.msg_id, 'internal_error', 'provisioning failed, retry later');
      }
    }
    await answer(parsed.hardwareId, body);
  };

  subscriber.on('message', (topic, payload) => {
    const p = handle(topic, payload)
      .catch((err: unknown) =>
        logger.warn({ event: 'provisioning.answer_failed', err }, 'could not answer'),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  const filter = sharedSubscription(opts.shareGroup, provisioningRequestFilter(prefix));
  await subscriber.subscribeAsync(filter, { qos: 1 });

  const renewals: Consumer = await consume(bus, {
    stream: 'DEVICE',
    durable: CERT_RENEW_RES_DURABLE,
    filterSubjects: [deviceFilter(bus.naming, 'cert_renew_res')],
    logger,
    handler: async (msg) => {
      const body: unknown = msg.json();
      if (!busMessageCheckers.CertRenewResultMessage.check(body)) {
        throw new ValidationError('schema', 'not a renewal answer');
      }
      const root = deviceRoot(
        { tenant: body.tenant, deviceType: body.device_type, deviceId: body.device_id },
        prefix,
      );
      await egress.publish(
        deviceTopic(root, 'cert/renew/res'),
        JSON.stringify(body.response),
        false,
      );
    },
  });

  return {
    async stop() {
      await subscriber.unsubscribeAsync(filter).catch((err: unknown) => {
        logger.debug({ event: 'provisioning.unsubscribe_failed', err: String(err) });
      });
      await Promise.all([...inFlight]);
      await renewals.stop();
    },
  };
}
