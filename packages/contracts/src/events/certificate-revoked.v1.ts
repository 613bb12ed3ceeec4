import { Type } from '@sinclair/typebox';
import { DateTime, Id } from '../payloads/common.schema';
import { defineEvent } from './cloud-event';

/** A device certificate was revoked; the CRL was regenerated with its serial. */
export const CertificateRevokedV1 = defineEvent({
  aggregate: 'certificate',
  name: 'revoked',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    serial: Type.String({ pattern: '^[0-9a-f]{1,64}$' }),
    reason: Type.Union([
      Type.Literal('superseded'),
      Type.Literal('decommissioned'),
      Type.Literal('requested'),
    ]),
    revoked_at: DateTime,
  }),
});
