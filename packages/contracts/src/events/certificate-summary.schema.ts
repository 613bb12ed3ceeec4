// The certificate summary shared by the provisioning and certificate events.
import { type Static, Type } from '@sinclair/typebox';
import { DateTime } from '../payloads/common.schema';

/** Serial (hex), SHA-256 fingerprint (hex) and validity of a device certificate. */
export const CertificateSummary = Type.Object({
  serial: Type.String({ pattern: '^[0-9a-f]{1,64}$' }),
  fingerprint_sha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
  not_before: DateTime,
  not_after: DateTime,
});
/** A certificate summary. */
export type CertificateSummary = Static<typeof CertificateSummary>;
