// The data of the `deployment.*` events: one shape for every deployment transition (so a consumer
// follows a deployment with one parser; the event type says which transition it was) and one for
// a device's progress within a deployment.
import { type Static, Type } from '@sinclair/typebox';
import { DateTime, FirmwareVersion, Id } from '../payloads/common.schema';

const Count = Type.Integer({ minimum: 0 });
const Rate = Type.Number({ minimum: 0, maximum: 1 });

/** Data of every `drover.deployment.<transition>.v1` event except `device_updated`. */
export const DeploymentEventData = Type.Object({
  deployment_id: Id,
  firmware_version: FirmwareVersion,
  device_type: Id,
  status: Type.Union([
    Type.Literal('pending'),
    Type.Literal('running'),
    Type.Literal('paused'),
    Type.Literal('rolling_back'),
    Type.Literal('rolled_back'),
    Type.Literal('completed'),
    Type.Literal('aborted'),
  ]),
  at: DateTime,
  stage: Type.Optional(Type.Integer({ minimum: 0 })),
  percent: Type.Optional(Type.Number({ minimum: 0, maximum: 100 })),
  devices: Type.Optional(Count),
  total_devices: Type.Optional(Count),
  attempted: Type.Optional(Count),
  succeeded: Type.Optional(Count),
  failed: Type.Optional(Count),
  offline: Type.Optional(Count),
  error_rate: Type.Optional(Rate),
  offline_rate: Type.Optional(Rate),
  reason: Type.Optional(
    Type.Union([
      Type.Literal('error_rate'),
      Type.Literal('offline_rate'),
      Type.Literal('manual'),
      Type.Literal('aborted'),
    ]),
  ),
  detail: Type.Optional(Type.String({ maxLength: 1024 })),
});
/** Data of a deployment transition event. */
export type DeploymentEventData = Static<typeof DeploymentEventData>;

/** Data of `drover.deployment.device_updated.v1`: a device reached a new state. */
export const DeploymentDeviceEventData = Type.Object({
  deployment_id: Id,
  device_id: Id,
  stage: Type.Integer({ minimum: 0 }),
  status: Type.Union([
    Type.Literal('updating'),
    Type.Literal('succeeded'),
    Type.Literal('failed'),
    Type.Literal('offline'),
    Type.Literal('skipped'),
    Type.Literal('rolling_back'),
    Type.Literal('rolled_back'),
    Type.Literal('rollback_failed'),
  ]),
  firmware_version: FirmwareVersion,
  previous_version: Type.Optional(Type.String({ maxLength: 128 })),
  at: DateTime,
  error: Type.Optional(Type.String({ maxLength: 4096 })),
});
/** Data of a device progress event. */
export type DeploymentDeviceEventData = Static<typeof DeploymentDeviceEventData>;
