// Rules of the provisioning routes: which request id a provisioning call carries, and the HTTP
// status of the provisioning service's error codes.
import { createHash } from 'node:crypto';
import {
  DomainError,
  ForbiddenError,
  UnavailableError,
  ValidationError,
} from '@drover/service-kit';

/** Longest request id the provisioning contract accepts. */
const MAX_REQUEST_ID_LENGTH = 64;

/**
 * The `request_id` of a REST provisioning call: the Idempotency-Key when one was sent (hashed
 * when it is longer than the contract allows), else a fresh id. The provisioning service keys
 * its stored answer by hardware id and request id, so a retry with the same key gets the same
 * answer, private key included.
 */
export function provisionRequestId(key: string | undefined, fresh: () => string): string {
  if (key === undefined) return fresh();
  if (key.length <= MAX_REQUEST_ID_LENGTH) return key;
  return createHash('sha256').update(key).digest('hex');
}

/** Codes that refuse a well-formed request (403), whatever status they travelled with. */
const FORBIDDEN_CODES = new Set(['not_enrolled', 'decommissioned', 'not_provisioned']);

/** The HTTP status a provisioning error code maps to; undefined keeps the service's status. */
export function provisioningStatus(code: string): 400 | 403 | 503 | undefined {
  if (FORBIDDEN_CODES.has(code) || code.endsWith('_mismatch') || code.startsWith('server_keys_')) {
    return 403;
  }
  if (code === 'bad_csr') return 400;
  if (code.startsWith('cloud_')) return 503;
  return undefined;
}

/**
 * Rebuilds a provisioning DomainError with the status of {@link provisioningStatus}; any other
 * error (and codes without a rule) passes through to the gateway's generic mapping.
 */
export function mapProvisioningError(err: unknown): unknown {
  if (!(err instanceof DomainError)) return err;
  const status = provisioningStatus(err.code);
  if (status === undefined || status === err.status) return err;
  if (status === 400) return new ValidationError(err.code, err.detail, err.details);
  if (status === 403) return new ForbiddenError(err.code, err.detail, err.details);
  return new UnavailableError(err.code, err.detail, err.details);
}
