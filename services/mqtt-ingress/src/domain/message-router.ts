// Pure routing of one device message: topic ids, registry check, decode and validation, and
// the bus message it becomes. The adapters do the I/O around it.
import {
  type DeviceChannel,
  type DeviceSubjectKind,
  type DeviceTopic,
  type InboundChannel,
  type RejectReason,
  isDeviceChannel,
  parseDeviceMessage,
  parseDeviceTopic,
} from '@drover/contracts';
import { type DeviceMeta, checkDevice } from './device-check';

/** Limits applied to every payload. */
export interface RouteLimits {
  /** Largest accepted payload in bytes. */
  maxBytes: number;
  /** How far in the future a device timestamp may be. */
  maxFutureSkewMs: number;
  /** How old a device timestamp may be. */
  maxAgeMs: number;
}

/**
 * One telemetry message on TELEMETRY: the contracts' `TelemetryMessage` with `ts` normalized to
 * integer epoch ms (JSON; see docs/telemetry.md).
 */
export interface TelemetryRecord {
  /** Tenant id. */
  tenant: string;
  /** Device type id. */
  device_type: string;
  /** Device id. */
  device_id: string;
  /** The device's message id: the dedup key. */
  msg_id: string;
  /** Device time, epoch milliseconds. */
  ts: number;
  /** Always 1 today. */
  schema_version: 1;
  /** When the ingress received it, RFC 3339. */
  received_at: string;
  /** The metrics, as sent. */
  metrics: Record<string, number | boolean | string>;
}

/** Where one message goes. */
export type Route =
  | {
      /** Telemetry onto TELEMETRY. */
      kind: 'telemetry';
      /** JetStream dedup id: `<device_id>:<msg_id>`. */
      msgId: string;
      /** The record to publish. */
      record: TelemetryRecord;
    }
  | {
      /** Other device traffic onto DEVICE. */
      kind: 'device';
      /** Which DEVICE subject. */
      subjectKind: DeviceSubjectKind;
      /** Tenant id. */
      tenant: string;
      /** Device id. */
      deviceId: string;
      /** JetStream dedup id: `<kind>:<device_id>:<msg_id>`. */
      msgId: string;
      /** The bus message (device payload plus ids and received_at). */
      message: Record<string, unknown>;
    }
  | {
      /** Refused, with a reason. */
      kind: 'reject';
      /** Why. */
      reason: RejectReason;
      /** Human detail for the rejected event. */
      detail: string;
    };

const subjectKinds: Record<Exclude<DeviceChannel, 'telemetry'>, DeviceSubjectKind> = {
  status: 'presence',
  'cmd/res': 'cmd_res',
  update_status: 'update_status',
  'state/reported': 'state_reported',
  'cert/renew': 'cert_renew',
};

/** A device topic the ingress accepts (a device channel under an id-only root), or `null`. */
export function parseIngressTopic(topic: string, prefix: string): DeviceTopic | null {
  const parsed = parseDeviceTopic(topic, prefix === '' ? undefined : prefix);
  if (parsed === null || !isDeviceChannel(parsed.channel)) return null;
  return parsed;
}

// Messages arrive thousands per second: the receive time's text is reused within a millisecond.
let isoMs = Number.NaN;
let isoText = '';
function isoOf(ms: number): string {
  if (ms !== isoMs) {
    isoText = new Date(ms).toISOString();
    isoMs = ms;
  }
  return isoText;
}

/** Routes one message whose topic parsed and whose registry entry (or absence) is known. */
export function routeMessage(
  topic: DeviceTopic,
  meta: DeviceMeta | null,
  payload: Uint8Array,
  limits: RouteLimits,
  receivedAt: number,
  contentType?: string,
): Route {
  const refused = checkDevice(topic, meta);
  if (refused !== null) {
    return { kind: 'reject', reason: refused, detail: `device ${topic.deviceId}: ${refused}` };
  }
  const channel = topic.channel as DeviceChannel;
  const parsed = parseDeviceMessage(channel as InboundChannel, payload, {
    contentType,
    maxBytes: limits.maxBytes,
    maxFutureSkewMs: limits.maxFutureSkewMs,
    maxAgeMs: limits.maxAgeMs,
    nowMs: receivedAt,
  });
  if (!parsed.ok) return { kind: 'reject', reason: parsed.reason, detail: parsed.detail };
  const value = parsed.payload as Record<string, unknown>;
  const receivedIso = isoOf(receivedAt);
  const ids = { tenant: topic.tenant, device_type: topic.deviceType, device_id: topic.deviceId };
  if (channel === 'telemetry') {
    const msgId = value.msg_id as string;
    return {
      kind: 'telemetry',
      msgId: `${topic.deviceId}:${msgId}`,
      record: {
        ...ids,
        msg_id: msgId,
        ts: parsed.tsMs,
        schema_version: 1,
        received_at: receivedIso,
        metrics: value.metrics as TelemetryRecord['metrics'],
      },
    };
  }
  const subjectKind = subjectKinds[channel];
  // The last will carries no msg_id: the broker may deliver it twice, which presence tolerates.
  const deviceMsgId = typeof value.msg_id === 'string' ? value.msg_id : `will-${receivedAt}`;
  return {
    kind: 'device',
    subjectKind,
    tenant: topic.tenant,
    deviceId: topic.deviceId,
    msgId: `${subjectKind}:${topic.deviceId}:${deviceMsgId}`,
    message: {
      ...value,
      ...ids,
      ts: new Date(parsed.tsMs).toISOString(),
      received_at: receivedIso,
    },
  };
}
