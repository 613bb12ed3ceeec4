// Enrollment rules: what an enrollment request must contain, and which enrollment (if any)
// admits a hardware id. Individual enrollments win over group ones: an operator who listed a
// hardware id by hand meant that device type.
import { invalid, refused } from './errors';

/** Individual (listed hardware ids) or group (any bootstrap cert chaining to a CA). */
export type EnrollmentKind = 'individual' | 'group';

/** The two inputs that decide the kind. */
export interface EnrollmentInput {
  /** Listed hardware ids. */
  hardwareIds?: readonly string[] | undefined;
  /** Bootstrap CA (group). */
  bootstrapCaPem?: string | undefined;
}

/** Checks that exactly one of hardware ids and bootstrap CA is given; returns the kind. */
export function enrollmentKind(input: EnrollmentInput): EnrollmentKind {
  const hasIds = input.hardwareIds !== undefined && input.hardwareIds.length > 0;
  const hasCa = input.bootstrapCaPem !== undefined;
  if (hasIds === hasCa) {
    throw invalid('validation_failed', 'give either hardware_ids or bootstrap_ca_pem, not both');
  }
  if (hasIds && new Set(input.hardwareIds).size !== input.hardwareIds!.length) {
    throw invalid('validation_failed', 'hardware_ids contains duplicates');
  }
  return hasIds ? 'individual' : 'group';
}

/** An enrollment as the matcher sees it. */
export interface EnrollmentCandidate {
  /** Id. */
  enrollmentId: string;
  /** Tenant. */
  tenant: string;
  /** Device type it enrolls. */
  deviceType: string;
  /** Individual or group. */
  kind: EnrollmentKind;
  /** Group: whether the presented bootstrap certificate chains to this enrollment's CA. */
  bootstrapVerified: boolean;
  /** Whether a request without CSR may get a server-generated key. */
  allowServerKeys: boolean;
}

/** What the caller asked for. */
export interface MatchRequest {
  /** Tenant of the caller (REST), absent on the MQTT path. */
  tenant?: string | undefined;
  /** Requested device type. */
  deviceType: string;
  /** Whether a CSR came with the request. */
  hasCsr: boolean;
}

/**
 * Picks the enrollment for a request among the individual enrollments listing the hardware id
 * and the group enrollments whose CA verified the bootstrap certificate.
 * Throws `not_enrolled`, `device_type_mismatch` or `server_keys_not_allowed`.
 */
export function matchEnrollment(
  candidates: readonly EnrollmentCandidate[],
  req: MatchRequest,
): EnrollmentCandidate {
  const usable = candidates.filter(
    (c) =>
      (c.kind === 'individual' || c.bootstrapVerified) &&
      (req.tenant === undefined || c.tenant === req.tenant),
  );
  if (usable.length === 0) throw refused('not_enrolled', 'the hardware id is not enrolled');
  const ofType = usable.filter((c) => c.deviceType === req.deviceType);
  if (ofType.length === 0) {
    throw refused('device_type_mismatch', `the hardware id is not enrolled as ${req.deviceType}`);
  }
  const chosen = ofType.find((c) => c.kind === 'individual') ?? ofType[0]!;
  if (!req.hasCsr && !chosen.allowServerKeys) {
    throw refused('server_keys_not_allowed', 'this enrollment requires a CSR');
  }
  return chosen;
}
