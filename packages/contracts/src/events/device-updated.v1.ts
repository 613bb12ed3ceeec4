import { Type } from '@sinclair/typebox';
import {
  DateTime,
  FirmwareVersion,
  HardwareModel,
  Id,
  METRIC_NAME_PATTERN_SOURCE,
  Tags,
} from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** Registry-visible properties of a device changed; `changes` holds only what changed. */
export const DeviceUpdatedV1 = defineEvent({
  aggregate: 'device',
  name: 'updated',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    changes: Type.Object({
      /** The new full tag set. */
      tags: Type.Optional(Tags),
      /** The attribute merge patch applied: `null` means the key was deleted. */
      attributes: Type.Optional(
        Type.Record(
          Type.String({ pattern: METRIC_NAME_PATTERN_SOURCE }),
          Type.Union([Type.String(), Type.Number(), Type.Boolean(), Type.Null()]),
          { additionalProperties: false },
        ),
      ),
      firmware_version: Type.Optional(Type.Union([FirmwareVersion, Type.Null()])),
      hardware_model: Type.Optional(Type.Union([HardwareModel, Type.Null()])),
    }),
    updated_at: DateTime,
  }),
});
