// Enrollment use cases: create (individual or group) and list.
import { type CreateEnrollmentRequest, type Enrollment, RPC_LIST_LIMIT } from '@drover/contracts';
import { fingerprintSha256, x509 } from '@drover/pki';
import { enrollmentKind } from '../domain/enrollment.rules';
import { decodeCursor, encodeCursor } from '../domain/cursor';
import { invalid } from '../domain/errors';
import * as enrollments from '../adapters/postgres/enrollment.repository';
import { type EnrollmentRow } from '../adapters/postgres/schema';
import { newId, sha256Hex } from './identity.helpers';
import { type ProvisioningContext } from './provisioning.context';

function toEnrollment(row: EnrollmentRow): Enrollment {
  return {
    enrollment_id: row.enrollment_id,
    tenant: row.tenant,
    device_type: row.device_type,
    kind: row.kind,
    hardware_id_count: row.hardware_id_count,
    bootstrap_ca_fingerprint: row.bootstrap_ca_fingerprint,
    allow_server_keys: row.allow_server_keys,
    created_at: new Date(row.created_at).toISOString(),
  };
}

function caFingerprint(pem: string): string {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pem);
  } catch (err) {
    throw invalid('bad_bootstrap_ca', `bootstrap_ca_pem: ${(err as Error).message}`);
  }
  const basic = cert.getExtension(x509.BasicConstraintsExtension);
  if (basic?.ca !== true) throw invalid('bad_bootstrap_ca', 'bootstrap_ca_pem is not a CA');
  return fingerprintSha256(cert);
}

/** `create_enrollment` */
export async function createEnrollment(
  ctx: ProvisioningContext,
  req: CreateEnrollmentRequest,
): Promise<Enrollment> {
  const kind = enrollmentKind({
    hardwareIds: req.hardware_ids,
    bootstrapCaPem: req.bootstrap_ca_pem,
  });
  const hardwareKeys = kind === 'individual' ? req.hardware_ids!.map((h) => sha256Hex(h)) : [];
  const fingerprint = kind === 'group' ? caFingerprint(req.bootstrap_ca_pem!) : null;
  const row = await ctx.db.transaction().execute((trx) =>
    enrollments.insertEnrollment(
      trx,
      {
        enrollment_id: newId('e'),
        tenant: req.tenant,
        device_type: req.device_type,
        kind,
        allow_server_keys: req.allow_server_keys ?? false,
        bootstrap_ca_pem: kind === 'group' ? req.bootstrap_ca_pem! : null,
        bootstrap_ca_fingerprint: fingerprint,
        hardware_id_count: hardwareKeys.length,
      },
      hardwareKeys,
    ),
  );
  ctx.logger.info(
    { event: 'enrollment.created', enrollment_id: row.enrollment_id, kind },
    'enrollment created',
  );
  return toEnrollment(row);
}

/** `list_enrollments` */
export async function listEnrollments(
  ctx: ProvisioningContext,
  req: { tenant: string; device_type?: string; limit?: number; cursor?: string },
): Promise<{ items: Enrollment[]; next_cursor: string | null }> {
  const limit = req.limit ?? RPC_LIST_LIMIT.default;
  const rows = await enrollments.listEnrollments(ctx.db, {
    tenant: req.tenant,
    deviceType: req.device_type,
    after: req.cursor === undefined ? undefined : decodeCursor(req.cursor),
    limit,
  });
  const page = rows.slice(0, limit);
  return {
    items: page.map(toEnrollment),
    next_cursor: rows.length > limit ? encodeCursor(page[page.length - 1]!.enrollment_id) : null,
  };
}
