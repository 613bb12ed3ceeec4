import { Type } from '@sinclair/typebox';
import { DateTime, FirmwareVersion, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A device went offline (its last will, or a clean `offline` status). */
export const DeviceDisconnectedV1 = defineEvent({
  aggregate: 'device',
  name: 'disconnected',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    at: DateTime,
    firmware_version: Type.Optional(FirmwareVersion),
  }),
});
