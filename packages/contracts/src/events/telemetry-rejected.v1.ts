import { Type } from '@sinclair/typebox';
import { RejectReason } from '../decode/reject-reason';
import { DateTime, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** The ingress dropped a device message; the reason says why (the payload is not included). */
export const TelemetryRejectedV1 = defineEvent({
  aggregate: 'telemetry',
  name: 'rejected',
  version: 1,
  schema: Type.Object({
    /** Absent when the topic did not name a valid device. */
    device_id: Type.Optional(Id),
    topic: Type.String({ maxLength: 65535 }),
    reason: RejectReason,
    detail: Type.String({ maxLength: 1024 }),
    received_at: DateTime,
  }),
});
