import { Type } from '@sinclair/typebox';
import { Id } from '../payloads/common.schema';
import { CertificateSummary } from './certificate-summary.schema';
import { defineEvent } from './cloud-event';

/** A device certificate was issued (at provisioning, renewal or rotation). */
export const CertificateIssuedV1 = defineEvent({
  aggregate: 'certificate',
  name: 'issued',
  version: 1,
  schema: Type.Object({
    device_id: Id,
    reason: Type.Union([
      Type.Literal('provisioning'),
      Type.Literal('renewal'),
      Type.Literal('reprovisioning'),
    ]),
    certificate: CertificateSummary,
    /** Serial of the certificate this one replaces (kept valid through the overlap window). */
    replaces_serial: Type.Optional(Type.String({ pattern: '^[0-9a-f]{1,64}$' })),
  }),
});
