import { Type } from '@sinclair/typebox';
import { DateTime, FirmwareVersion, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A device came online (its `status` said `online`). */
export const DeviceConnectedV1 = defineEvent({
  aggregate: 'device',
  name: 'connected',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    at: DateTime,
    firmware_version: Type.Optional(FirmwareVersion),
  }),
});
