// Building blocks shared by the device protocol, bus messages and events.
import { Type } from '@sinclair/typebox';

/** Pattern of ids (see ID_PATTERN), as a JSON-schema string. */
export const ID_PATTERN_SOURCE = '^[A-Za-z0-9_-]{1,64}$';
/** Metric names and attribute keys. */
export const METRIC_NAME_PATTERN_SOURCE = '^[A-Za-z0-9_.-]{1,128}$';
/** Device tags. */
export const TAG_PATTERN_SOURCE = '^[A-Za-z0-9_.:-]{1,64}$';
/** Maximum number of metrics in one telemetry message. */
export const MAX_METRICS = 256;

/** A tenant/device/hardware id. */
export const Id = Type.String({ pattern: ID_PATTERN_SOURCE });

/** `msg_id`: 1–64 characters, no control characters (it becomes a NATS header value). */
export const MsgId = Type.String({ pattern: '^[^\\u0000-\\u001f\\u007f]{1,64}$' });

/** Device time: an RFC 3339 string or integer epoch milliseconds (checked by parseDeviceMessage). */
export const Timestamp = Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Integer()]);

/** An RFC 3339 date-time string written by the platform. */
export const DateTime = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}[Tt ]\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?([Zz]|[+-]\\d{2}:\\d{2})$',
});

/** Protocol version 1, the only one today. */
export const SchemaVersion = Type.Literal(1);

/** A firmware version such as `1.4.2` or `2.0.0-rc.1+build5`. */
export const FirmwareVersion = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._+~-]{0,63}$' });

/** A hardware model name (free text, bounded). */
export const HardwareModel = Type.String({ minLength: 1, maxLength: 128 });

/** A metric value. */
export const MetricValue = Type.Union([Type.Number(), Type.Boolean(), Type.String()]);

/** Flat map of metric name to value (≤ 256 keys, names `^[A-Za-z0-9_.-]{1,128}$`). */
export const Metrics = Type.Record(
  Type.String({ pattern: METRIC_NAME_PATTERN_SOURCE }),
  MetricValue,
  {
    additionalProperties: false,
    maxProperties: MAX_METRICS,
  },
);

/** A free-form JSON object (state, command params and results): open by design. */
export const JsonObject = Type.Record(Type.String(), Type.Unknown());

/** An error as sent to devices: machine code plus human detail. */
export const ErrorInfo = Type.Object({
  code: Type.String({ minLength: 1, maxLength: 128 }),
  detail: Type.String({ maxLength: 4096 }),
});

/** A PEM text block (certificate chain, CSR, key), bounded. */
export const Pem = Type.String({
  minLength: 1,
  maxLength: 65536,
  pattern: '-----BEGIN [A-Z0-9 ]+-----',
});

/** A PKCS#10 certificate signing request in PEM. */
export const CsrPem = Type.String({
  minLength: 1,
  maxLength: 16384,
  pattern: '^\\s*-----BEGIN (NEW )?CERTIFICATE REQUEST-----',
});

/** Device tags (≤ 64). */
export const Tags = Type.Array(Type.String({ pattern: TAG_PATTERN_SOURCE }), { maxItems: 64 });

/** Device attributes: key like a metric name, scalar values. */
export const Attributes = Type.Record(
  Type.String({ pattern: METRIC_NAME_PATTERN_SOURCE }),
  Type.Union([Type.String(), Type.Number(), Type.Boolean()]),
  { additionalProperties: false },
);
