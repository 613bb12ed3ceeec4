// Every protocol schema compiled exactly once, at module load.
import { compileChecker } from './checker';
import {
  CertRenewPayload,
  CommandResultPayload,
  ProvisioningRequest,
  StateReportedPayload,
  StatusPayload,
  TelemetryPayload,
  UpdateStatusPayload,
} from './device.schema';
import {
  CertRenewResponse,
  CommandPayload,
  DesiredStatePayload,
  FirmwareRollbackParams,
  FirmwareUpdateParams,
  ProvisioningResponse,
} from './platform.schema';

/** Compiled checkers for every device-protocol payload, keyed by schema name. */
export const payloadCheckers = {
  TelemetryPayload: compileChecker(TelemetryPayload),
  StatusPayload: compileChecker(StatusPayload),
  CommandResultPayload: compileChecker(CommandResultPayload),
  UpdateStatusPayload: compileChecker(UpdateStatusPayload),
  StateReportedPayload: compileChecker(StateReportedPayload),
  CertRenewPayload: compileChecker(CertRenewPayload),
  ProvisioningRequest: compileChecker(ProvisioningRequest),
  CommandPayload: compileChecker(CommandPayload),
  DesiredStatePayload: compileChecker(DesiredStatePayload),
  CertRenewResponse: compileChecker(CertRenewResponse),
  ProvisioningResponse: compileChecker(ProvisioningResponse),
  FirmwareUpdateParams: compileChecker(FirmwareUpdateParams),
  FirmwareRollbackParams: compileChecker(FirmwareRollbackParams),
} as const;

/** The payload checker for what arrives on each inbound channel (device channels + provisioning). */
export const inboundCheckers = {
  telemetry: payloadCheckers.TelemetryPayload,
  status: payloadCheckers.StatusPayload,
  'cmd/res': payloadCheckers.CommandResultPayload,
  update_status: payloadCheckers.UpdateStatusPayload,
  'state/reported': payloadCheckers.StateReportedPayload,
  'cert/renew': payloadCheckers.CertRenewPayload,
  'provisioning/req': payloadCheckers.ProvisioningRequest,
} as const;

/** A channel `parseDeviceMessage` understands. */
export type InboundChannel = keyof typeof inboundCheckers;

/** The platform → device payload checker per channel (for the device SDK and simulator). */
export const outboundCheckers = {
  cmd: payloadCheckers.CommandPayload,
  'state/desired': payloadCheckers.DesiredStatePayload,
  'cert/renew/res': payloadCheckers.CertRenewResponse,
  'provisioning/res': payloadCheckers.ProvisioningResponse,
} as const;

/** A channel the platform publishes on (plus the provisioning answer). */
export type OutboundChannel = keyof typeof outboundCheckers;
