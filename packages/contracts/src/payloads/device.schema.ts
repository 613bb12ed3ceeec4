// Device → platform payloads (DEVICE-PROTOCOL.md, version 1).
// Top level is closed (additionalProperties: false): the protocol lists every field, a new
// field needs a new schema_version, and an unknown one is a device bug worth surfacing. The
// free-form parts (`result`, `state`) are open objects by design.
import { type Static, Type } from '@sinclair/typebox';
import {
  CsrPem,
  FirmwareVersion,
  HardwareModel,
  Id,
  JsonObject,
  Metrics,
  MsgId,
  SchemaVersion,
  Timestamp,
} from './common.schema';

const closed = { additionalProperties: false } as const;

/** The fields every message carries. */
const envelope = { msg_id: MsgId, ts: Timestamp, schema_version: SchemaVersion };

/** `<root>/telemetry` */
export const TelemetryPayload = Type.Object({ ...envelope, metrics: Metrics }, closed);
export type TelemetryPayload = Static<typeof TelemetryPayload>;

/** `<root>/status` after connect. */
export const StatusOnlinePayload = Type.Object(
  {
    ...envelope,
    state: Type.Literal('online'),
    firmware_version: FirmwareVersion,
    hardware_model: Type.Optional(HardwareModel),
  },
  closed,
);
export type StatusOnlinePayload = Static<typeof StatusOnlinePayload>;

/**
 * `<root>/status` offline: the last will, fixed at connect time, so `{"state":"offline"}` alone
 * is valid (no msg_id or ts: the broker publishes it whenever the connection dies).
 */
export const StatusOfflinePayload = Type.Object(
  {
    msg_id: Type.Optional(MsgId),
    ts: Type.Optional(Timestamp),
    schema_version: Type.Optional(SchemaVersion),
    state: Type.Literal('offline'),
  },
  closed,
);
export type StatusOfflinePayload = Static<typeof StatusOfflinePayload>;

/** `<root>/status` */
export const StatusPayload = Type.Union([StatusOnlinePayload, StatusOfflinePayload]);
export type StatusPayload = Static<typeof StatusPayload>;

/** Outcome of a command as reported by the device. */
export const CommandResultStatus = Type.Union([
  Type.Literal('accepted'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('rejected'),
]);
export type CommandResultStatus = Static<typeof CommandResultStatus>;

/** `<root>/cmd/res` */
export const CommandResultPayload = Type.Object(
  {
    ...envelope,
    cmd_id: MsgId,
    status: CommandResultStatus,
    result: Type.Optional(JsonObject),
    error: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  closed,
);
export type CommandResultPayload = Static<typeof CommandResultPayload>;

/** Firmware update progress states. */
export const UpdateState = Type.Union([
  Type.Literal('downloading'),
  Type.Literal('downloaded'),
  Type.Literal('installing'),
  Type.Literal('rebooting'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('rolled_back'),
]);
export type UpdateState = Static<typeof UpdateState>;

/** `<root>/update_status` */
export const UpdateStatusPayload = Type.Object(
  {
    ...envelope,
    deployment_id: Id,
    firmware_version: FirmwareVersion,
    state: UpdateState,
    progress: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
    error: Type.Optional(Type.String({ maxLength: 4096 })),
  },
  closed,
);
export type UpdateStatusPayload = Static<typeof UpdateStatusPayload>;

/** `<root>/state/reported` */
export const StateReportedPayload = Type.Object({ ...envelope, state: JsonObject }, closed);
export type StateReportedPayload = Static<typeof StateReportedPayload>;

/** `<root>/cert/renew` */
export const CertRenewPayload = Type.Object({ ...envelope, csr: CsrPem }, closed);
export type CertRenewPayload = Static<typeof CertRenewPayload>;

/** `provisioning/<hardware_id>/req`: `csr` omitted when the tenant lets the platform make the key. */
export const ProvisioningRequest = Type.Object(
  { ...envelope, device_type: Id, csr: Type.Optional(CsrPem) },
  closed,
);
export type ProvisioningRequest = Static<typeof ProvisioningRequest>;
