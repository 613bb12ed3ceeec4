import { Type } from '@sinclair/typebox';
import { DateTime, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** The daily scan found a device certificate that expires within the renewal window. */
export const CertificateExpiringV1 = defineEvent({
  aggregate: 'certificate',
  name: 'expiring',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    serial: Type.String({ pattern: '^[0-9a-f]{1,64}$' }),
    not_after: DateTime,
    days_left: Type.Integer(),
    /** True when the device was online and a `certificate.rotate` command was sent. */
    rotation_requested: Type.Boolean(),
  }),
});
