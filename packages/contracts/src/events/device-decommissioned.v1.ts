import { Type } from '@sinclair/typebox';
import { DateTime, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A device was decommissioned: its certificate is revoked and commands are refused. */
export const DeviceDecommissionedV1 = defineEvent({
  aggregate: 'device',
  name: 'decommissioned',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    decommissioned_at: DateTime,
  }),
});
