// Everything the ingress writes to NATS: telemetry, device traffic, and reject reports.
import {
  type Naming,
  type RejectReason,
  createEvent,
  deviceSubject,
  dlqSubject,
  isValidId,
  TelemetryRejectedV1,
  telemetrySubject,
} from '@drover/contracts';
import { type Bus, HEADERS, publish, publishEvent } from '@drover/bus';
import { type Route } from '../../domain/message-router';
import { createJsPipeline } from './js-pipeline';

/** Longest payload excerpt kept in a DLQ record. */
export const DLQ_PAYLOAD_MAX_BYTES = 4096;

/** A refused message, as reported. */
export interface RejectReport {
  /** The MQTT topic. */
  topic: string;
  /** Tenant from the topic, when it had one. */
  tenant?: string;
  /** Device id from the topic, when it had one. */
  deviceId?: string;
  /** Reason code. */
  reason: RejectReason;
  /** Human detail. */
  detail: string;
  /** The raw payload (truncated in the DLQ record). */
  payload: Uint8Array;
  /** When it was received, epoch ms. */
  receivedAt: number;
}

/** Publishes accepted messages and reject reports. */
export interface IngressPublisher {
  /** Publishes a telemetry or device route; resolves on the JetStream PubAck. */
  route(route: Exclude<Route, { kind: 'reject' }>): Promise<void>;
  /** Publishes the `telemetry.rejected` event and the DLQ record. */
  reject(report: RejectReport): Promise<void>;
}

/**
 * Builds the publisher on a connected bus. Telemetry goes through a JetStream pipeline (many
 * publishes in flight, no request object each); its dedup id doubles as the correlation id, so
 * consumers need not mint one per message.
 */
export function createIngressPublisher(bus: Bus, naming: Naming): IngressPublisher {
  const pipeline = createJsPipeline(bus.nc);
  return {
    async route(route) {
      if (route.kind === 'telemetry') {
        const r = route.record;
        const subject = telemetrySubject(naming, r.tenant, r.device_type, r.device_id);
        await pipeline.publish(subject, Buffer.from(JSON.stringify(r)), route.msgId, {
          [HEADERS.correlationId]: route.msgId,
        });
        return;
      }
      const subject = deviceSubject(naming, route.subjectKind, route.tenant, route.deviceId);
      await publish(bus, subject, route.message, { msgId: route.msgId });
    },
    async reject(report) {
      const tenant = report.tenant !== undefined && isValidId(report.tenant) ? report.tenant : '_';
      const event = createEvent(TelemetryRejectedV1, {
        tenant,
        source: 'mqtt-ingress',
        subject: report.deviceId,
        data: {
          ...(report.deviceId !== undefined ? { device_id: report.deviceId } : {}),
          topic: report.topic.slice(0, 1024),
          reason: report.reason,
          detail: report.detail.slice(0, 1024),
          received_at: new Date(report.receivedAt).toISOString(),
        },
      });
      await publishEvent(bus, event);
      const excerpt = Buffer.from(report.payload).subarray(0, DLQ_PAYLOAD_MAX_BYTES);
      const record = {
        stream: 'MQTT',
        consumer: 'mqtt-ingress',
        subject: report.topic.slice(0, 1024),
        delivery_count: 1,
        reason: report.detail.slice(0, 1024),
        error_code: report.reason,
        payload_base64: excerpt.toString('base64'),
        payload_bytes: report.payload.byteLength,
        headers: {},
        failed_at: new Date(report.receivedAt).toISOString(),
      };
      await publish(bus, dlqSubject(naming, 'MQTT', 'mqtt-ingress'), record, { msgId: event.id });
    },
  };
}
