// Everything the ingress writes to NATS: telemetry, device traffic, and reject reports. The hot
// paths (telemetry, device traffic) go through the bus's JetStream pipeline.
import { createHash } from 'node:crypto';
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
import { type Bus, HEADERS, outgoingHeaders, publish, publishEvent } from '@drover/bus';
import { type Route, type TelemetryRecord } from '../../domain/message-router';
import { type SentHold, sentKey } from './command-sent.reporter';

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

/** Device-id token of a batch's subject: `…telemetry.<tenant>.<device_type>._batch`. */
export const TELEMETRY_BATCH_TOKEN = '_batch';

/** Options of `createIngressPublisher`. */
export interface IngressPublisherOptions {
  /**
   * Telemetry records per TELEMETRY message at most (default 1: one message per record on its
   * device's subject). Above 1, the records of one event-loop turn that share tenant and device
   * type go out as one `{"batch": [...]}` message (docs/telemetry.md).
   */
  telemetryBatchMax?: number;
  /**
   * Broker acks held for their command's answer: an answer that finds its command's ack there
   * carries it as `sent_at`, and the ack's own `cmd_sent` report is not published.
   */
  sentHold?: SentHold;
}

/** A batch is cut before its body passes this many bytes (NATS refuses more than 1 MiB). */
export const TELEMETRY_BATCH_MAX_BYTES = 512 * 1024;

interface Queued {
  record: TelemetryRecord;
  json: string;
  msgId: string;
  resolve(): void;
  reject(err: unknown): void;
}

/**
 * Builds the publisher on a connected bus. Telemetry goes through a JetStream pipeline (many
 * publishes in flight, no request object each); its dedup id doubles as the correlation id, so
 * consumers need not mint one per message.
 */
export function createIngressPublisher(
  bus: Bus,
  naming: Naming,
  opts: IngressPublisherOptions = {},
): IngressPublisher {
  const pipeline = bus.pipeline();
  const batchMax = Math.max(1, opts.telemetryBatchMax ?? 1);

  const publishOne = async (r: TelemetryRecord, msgId: string, json?: string): Promise<void> => {
    const subject = telemetrySubject(naming, r.tenant, r.device_type, r.device_id);
    await pipeline.publish(subject, Buffer.from(json ?? JSON.stringify(r)), msgId, {
      [HEADERS.correlationId]: msgId,
    });
  };

  // A batch's id is derived from its members' ids: a publish retried as the same batch is a
  // JetStream duplicate. A member retried in another batch is stored twice and the table's
  // unique key (device_id, msg_id, ts) keeps one row.
  const publishBatch = (group: Queued[]): void => {
    const settle = (p: Promise<void>) =>
      p.then(
        () => group.forEach((q) => q.resolve()),
        (err: unknown) => group.forEach((q) => q.reject(err)),
      );
    const first = group[0] as Queued;
    if (group.length === 1) {
      void settle(publishOne(first.record, first.msgId, first.json));
      return;
    }
    // Tenant and device type too: device ids are unique per tenant only.
    const { tenant, device_type } = first.record;
    const hash = createHash('sha256').update(`${tenant}.${device_type}\n`);
    for (const q of group) hash.update(q.msgId).update('\n');
    const msgId = `batch:${hash.digest('base64url')}`;
    const subject = telemetrySubject(naming, tenant, device_type, TELEMETRY_BATCH_TOKEN);
    const body = Buffer.from(`{"batch":[${group.map((q) => q.json).join(',')}]}`);
    void settle(
      pipeline
        .publish(subject, body, msgId, { [HEADERS.correlationId]: msgId })
        .then(() => undefined),
    );
  };

  let groups = new Map<string, { items: Queued[]; bytes: number }>();
  let scheduled = false;
  const flushAll = (): void => {
    scheduled = false;
    const all = groups;
    groups = new Map();
    for (const group of all.values()) publishBatch(group.items);
  };
  const enqueue = (record: TelemetryRecord, msgId: string): Promise<void> =>
    new Promise<void>((resolve, reject) => {
      const json = JSON.stringify(record);
      const bytes = Buffer.byteLength(json) + 1;
      const key = `${record.tenant}.${record.device_type}`;
      let group = groups.get(key);
      if (group !== undefined && group.bytes + bytes > TELEMETRY_BATCH_MAX_BYTES) {
        groups.delete(key);
        publishBatch(group.items);
        group = undefined;
      }
      if (group === undefined) {
        group = { items: [], bytes: 0 };
        groups.set(key, group);
      }
      group.items.push({ record, json, msgId, resolve, reject });
      group.bytes += bytes;
      if (group.items.length >= batchMax) {
        groups.delete(key);
        publishBatch(group.items);
      } else if (!scheduled) {
        scheduled = true;
        setImmediate(flushAll);
      }
    });

  return {
    async route(route) {
      if (route.kind === 'telemetry') {
        if (batchMax === 1) await publishOne(route.record, route.msgId);
        else await enqueue(route.record, route.msgId);
        return;
      }
      // Device traffic (cmd_res, presence, ...) through the pipeline too, with the headers
      // `publish()` would set: the context's trace and correlation, then the dedup id.
      const subject = deviceSubject(naming, route.subjectKind, route.tenant, route.deviceId);
      const headers = outgoingHeaders();
      headers.set(HEADERS.msgId, route.msgId);
      let message = route.message;
      if (route.subjectKind === 'cmd_res' && opts.sentHold !== undefined) {
        const sentAt = opts.sentHold.take(
          sentKey(route.tenant, route.deviceId, String(route.message.cmd_id)),
        );
        if (sentAt !== null) message = { ...message, sent_at: sentAt };
      }
      await pipeline.publishWithHeaders(subject, Buffer.from(JSON.stringify(message)), headers);
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
