// What the ingress republishes on the bus (DEVICE and TELEMETRY streams): the device payload
// plus where it came from. Open at the top level (tolerant reader): producer and consumers are
// deployed independently, so an added field must not send messages to the DLQ.
import { type Static, Type } from '@sinclair/typebox';
import { DateTime, FirmwareVersion, HardwareModel, Id, MsgId, Timestamp } from './common.schema';
import { compileChecker } from './checker';
import {
  CertRenewPayload,
  CommandResultPayload,
  StateReportedPayload,
  TelemetryPayload,
  UpdateStatusPayload,
} from './device.schema';
import { CertRenewResponse } from './platform.schema';

/** Where a device message came from, and when the ingress received it. */
const origin = {
  tenant: Id,
  device_type: Id,
  device_id: Id,
  received_at: DateTime,
};

/** `iot.device.<t>.presence.<id>`: a device came online or went offline. */
export const PresenceMessage = Type.Object({
  ...origin,
  state: Type.Union([Type.Literal('online'), Type.Literal('offline')]),
  firmware_version: Type.Optional(FirmwareVersion),
  hardware_model: Type.Optional(HardwareModel),
  msg_id: Type.Optional(MsgId),
  ts: Timestamp,
});
export type PresenceMessage = Static<typeof PresenceMessage>;

/** `iot.telemetry.<t>.<type>.<id>`: one telemetry message. */
export const TelemetryMessage = Type.Object({ ...TelemetryPayload.properties, ...origin });
export type TelemetryMessage = Static<typeof TelemetryMessage>;

/** `iot.device.<t>.state_reported.<id>` */
export const StateReportedMessage = Type.Object({ ...StateReportedPayload.properties, ...origin });
export type StateReportedMessage = Static<typeof StateReportedMessage>;

/**
 * `iot.device.<t>.cmd_res.<id>`. `sent_at`: the broker's PUBACK of the command, when the ingress
 * still held it (the device answered at once); no `cmd_sent` report is published for it then.
 */
export const CommandResultMessage = Type.Object({
  ...CommandResultPayload.properties,
  ...origin,
  sent_at: Type.Optional(DateTime),
});
export type CommandResultMessage = Static<typeof CommandResultMessage>;

/** `iot.device.<t>.cmd_sent.<id>`: the broker acknowledged (PUBACK) command `cmd_id`. */
export const CommandSentMessage = Type.Object({
  tenant: Id,
  device_type: Id,
  device_id: Id,
  cmd_id: MsgId,
  sent_at: DateTime,
  // Same as sent_at: every DEVICE message says when the ingress had it.
  received_at: DateTime,
});
export type CommandSentMessage = Static<typeof CommandSentMessage>;

/** `iot.device.<t>.update_status.<id>` */
export const UpdateStatusMessage = Type.Object({ ...UpdateStatusPayload.properties, ...origin });
export type UpdateStatusMessage = Static<typeof UpdateStatusMessage>;

/** `iot.device.<t>.cert_renew.<id>` */
export const CertRenewMessage = Type.Object({ ...CertRenewPayload.properties, ...origin });
export type CertRenewMessage = Static<typeof CertRenewMessage>;

/**
 * `iot.device.<t>.cert_renew_res.<id>`: provisioning's answer to a renewal; the ingress
 * publishes `response` as is (QoS 1) on `<tenant>/<device_type>/<device_id>/cert/renew/res`.
 */
export const CertRenewResultMessage = Type.Object({
  tenant: Id,
  device_type: Id,
  device_id: Id,
  response: CertRenewResponse,
});
export type CertRenewResultMessage = Static<typeof CertRenewResultMessage>;

/** Compiled checkers for the bus messages, keyed by schema name. */
export const busMessageCheckers = {
  PresenceMessage: compileChecker(PresenceMessage),
  TelemetryMessage: compileChecker(TelemetryMessage),
  StateReportedMessage: compileChecker(StateReportedMessage),
  CommandResultMessage: compileChecker(CommandResultMessage),
  UpdateStatusMessage: compileChecker(UpdateStatusMessage),
  CertRenewMessage: compileChecker(CertRenewMessage),
  CommandSentMessage: compileChecker(CommandSentMessage),
  CertRenewResultMessage: compileChecker(CertRenewResultMessage),
} as const;

/** The bus message checker for each `iot.device.<t>.<kind>.<id>` kind. */
export const deviceKindCheckers = {
  presence: busMessageCheckers.PresenceMessage,
  state_reported: busMessageCheckers.StateReportedMessage,
  cmd_res: busMessageCheckers.CommandResultMessage,
  update_status: busMessageCheckers.UpdateStatusMessage,
  cert_renew: busMessageCheckers.CertRenewMessage,
  cmd_sent: busMessageCheckers.CommandSentMessage,
  cert_renew_res: busMessageCheckers.CertRenewResultMessage,
} as const;
