// Platform → device payloads (DEVICE-PROTOCOL.md, version 1).
// Top level is open: devices must tolerate fields a newer platform adds, so the SDK and the
// simulator validating these must not reject them. We still type every field we send.
import { type Static, Type } from '@sinclair/typebox';
import {
  DateTime,
  ErrorInfo,
  FirmwareVersion,
  Id,
  JsonObject,
  MsgId,
  Pem,
  SchemaVersion,
  Timestamp,
} from './common.schema';

const envelope = { msg_id: MsgId, ts: Timestamp, schema_version: SchemaVersion };

/** A command name: reserved (`firmware.update`, `reboot`, …) or free. */
export const CommandName = Type.String({ pattern: '^[A-Za-z0-9_.:-]{1,128}$' });

/** `<root>/cmd`: `msg_id` is the command id. */
export const CommandPayload = Type.Object({
  ...envelope,
  command: Type.Object({ name: CommandName, params: JsonObject }),
  expires_at: DateTime,
});
export type CommandPayload = Static<typeof CommandPayload>;

/** Params of the reserved `firmware.update` command. */
export const FirmwareUpdateParams = Type.Object({
  deployment_id: Id,
  firmware_version: FirmwareVersion,
  url: Type.String({ minLength: 1, maxLength: 2048 }),
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  size: Type.Integer({ minimum: 0 }),
  signature: Type.String({ minLength: 1, maxLength: 1024 }),
  signature_alg: Type.String({ minLength: 1, maxLength: 32 }),
});
export type FirmwareUpdateParams = Static<typeof FirmwareUpdateParams>;

/** Params of the reserved `firmware.rollback` command. */
export const FirmwareRollbackParams = Type.Object({
  deployment_id: Id,
  firmware_version: FirmwareVersion,
});
export type FirmwareRollbackParams = Static<typeof FirmwareRollbackParams>;

/** `<root>/state/desired` (retained): the full desired state and its version. */
export const DesiredStatePayload = Type.Object({
  ...envelope,
  state: JsonObject,
  version: Type.Integer({ minimum: 0 }),
});
export type DesiredStatePayload = Static<typeof DesiredStatePayload>;

/** `<root>/cert/renew/res` */
export const CertRenewResponse = Type.Union([
  Type.Object({
    ...envelope,
    request_id: Type.Optional(MsgId),
    status: Type.Literal('ok'),
    certificate: Pem,
    ca_chain: Pem,
  }),
  Type.Object({
    ...envelope,
    request_id: Type.Optional(MsgId),
    status: Type.Literal('error'),
    error: ErrorInfo,
  }),
]);
export type CertRenewResponse = Static<typeof CertRenewResponse>;

/** Endpoints handed to a provisioned device. */
export const ProvisioningEndpoints = Type.Object({
  mqtt: Type.String({ minLength: 1 }),
  api: Type.String({ minLength: 1 }),
});

/** `provisioning/<hardware_id>/res` (also the body of the REST provisioning answer). */
export const ProvisioningResponse = Type.Union([
  Type.Object({
    ...envelope,
    request_id: MsgId,
    status: Type.Literal('ok'),
    device_id: Id,
    tenant: Id,
    certificate: Pem,
    ca_chain: Pem,
    private_key: Type.Optional(Pem),
    endpoints: ProvisioningEndpoints,
    topics: Type.Record(Type.String(), Type.String()),
  }),
  Type.Object({
    ...envelope,
    request_id: MsgId,
    status: Type.Literal('error'),
    error: ErrorInfo,
  }),
]);
export type ProvisioningResponse = Static<typeof ProvisioningResponse>;
