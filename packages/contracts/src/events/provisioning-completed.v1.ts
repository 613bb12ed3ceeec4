import { Type } from '@sinclair/typebox';
import { HardwareModel, Id } from '../payloads/common.schema';
import { CertificateSummary } from './certificate-summary.schema';
import { defineEvent } from './cloud-event';

/** A device was provisioned: the registry creates it (idempotently) from this event. */
export const ProvisioningCompletedV1 = defineEvent({
  aggregate: 'provisioning',
  name: 'completed',
  version: 1,
  schema: Type.Object({
    tenant: Id,
    device_id: Id,
    device_type: Id,
    // The hardware id may be personal data: events carry only its hash.
    hardware_id_hash: Type.String({ minLength: 1, maxLength: 128 }),
    hardware_model: Type.Optional(HardwareModel),
    enrollment_id: Id,
    /** True when this hardware id was provisioned before (same device id again). */
    reprovisioned: Type.Boolean(),
    certificate: CertificateSummary,
  }),
});
