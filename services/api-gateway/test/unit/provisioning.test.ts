// The provisioning routes' rules: request ids and the status of provisioning error codes.
import {
  ConflictError,
  ForbiddenError,
  NotFoundError,
  UnavailableError,
  ValidationError,
} from '@drover/service-kit';
import {
  mapProvisioningError,
  provisioningStatus,
  provisionRequestId,
} from '../../src/domain/provisioning';

describe('provisionRequestId', () => {
  it('uses the Idempotency-Key, hashes a long one, and is fresh without one', () => {
    expect(provisionRequestId('line-7:HW-1', () => 'fresh')).toBe('line-7:HW-1');
    expect(provisionRequestId('k'.repeat(64), () => 'fresh')).toBe('k'.repeat(64));
    const hashed = provisionRequestId('k'.repeat(65), () => 'fresh');
    expect(hashed).toMatch(/^[0-9a-f]{64}$/);
    expect(provisionRequestId('k'.repeat(65), () => 'fresh')).toBe(hashed);
    expect(provisionRequestId(undefined, () => 'fresh')).toBe('fresh');
  });
});

describe('provisioning error statuses', () => {
  it.each([
    ['not_enrolled', 403],
    ['hardware_mismatch', 403],
    ['device_type_mismatch', 403],
    ['server_keys_not_allowed', 403],
    ['server_keys_unsupported', 403],
    ['decommissioned', 403],
    ['not_provisioned', 403],
    ['bad_csr', 400],
    ['cloud_throttled', 503],
    ['cloud_unavailable', 503],
    ['device_not_found', undefined],
  ])('%s → %s', (code, status) => {
    expect(provisioningStatus(code)).toBe(status);
  });

  it('rebuilds an error whose status differs, keeping code, detail and details', () => {
    const csr = mapProvisioningError(new ForbiddenError('bad_csr', 'CN', { a: 1 }));
    expect(csr).toBeInstanceOf(ValidationError);
    expect(csr).toMatchObject({ status: 400, code: 'bad_csr', detail: 'CN', details: { a: 1 } });
    const refused = mapProvisioningError(new ValidationError('not_enrolled', 'no'));
    expect(refused).toMatchObject({ status: 403, code: 'not_enrolled' });
    expect(refused).toBeInstanceOf(ForbiddenError);
    const cloud = mapProvisioningError(new ConflictError('cloud_unavailable', 'open'));
    expect(cloud).toBeInstanceOf(UnavailableError);
    expect(cloud).toMatchObject({ status: 503, code: 'cloud_unavailable' });
  });

  it('passes through errors already right, codes without a rule, and non-domain errors', () => {
    const same = new ForbiddenError('not_enrolled', 'no');
    expect(mapProvisioningError(same)).toBe(same);
    const other = new NotFoundError('device_not_found', 'no');
    expect(mapProvisioningError(other)).toBe(other);
    const plain = new Error('boom');
    expect(mapProvisioningError(plain)).toBe(plain);
  });
});
