import {
  type EnrollmentCandidate,
  enrollmentKind,
  matchEnrollment,
} from '../../src/domain/enrollment.rules';

describe('enrollmentKind', () => {
  it.each([
    [{ hardwareIds: ['a', 'b'] }, 'individual'],
    [{ bootstrapCaPem: 'pem' }, 'group'],
    [{ hardwareIds: [], bootstrapCaPem: 'pem' }, 'group'],
  ] as const)('%j → %s', (input, kind) => {
    expect(enrollmentKind(input)).toBe(kind);
  });

  it.each([
    [{}, 'not both'],
    [{ hardwareIds: [] }, 'not both'],
    [{ hardwareIds: ['a'], bootstrapCaPem: 'pem' }, 'not both'],
    [{ hardwareIds: ['a', 'a'] }, 'duplicates'],
  ])('%j is refused (%s)', (input, detail) => {
    expect(() => enrollmentKind(input)).toThrow(detail);
  });
});

const c = (over: Partial<EnrollmentCandidate>): EnrollmentCandidate => ({
  enrollmentId: 'e1',
  tenant: 'acme',
  deviceType: 'sensor',
  kind: 'individual',
  bootstrapVerified: false,
  allowServerKeys: false,
  ...over,
});

describe('matchEnrollment', () => {
  const req = { deviceType: 'sensor', hasCsr: true };
  it.each([
    ['individual', [c({})], req, 'e1'],
    [
      'verified group',
      [c({ kind: 'group', bootstrapVerified: true, enrollmentId: 'g' })],
      req,
      'g',
    ],
    [
      'individual before group',
      [c({ kind: 'group', bootstrapVerified: true, enrollmentId: 'g' }), c({ enrollmentId: 'i' })],
      req,
      'i',
    ],
    ['tenant matches', [c({})], { ...req, tenant: 'acme' }, 'e1'],
    ['server key allowed', [c({ allowServerKeys: true })], { ...req, hasCsr: false }, 'e1'],
  ])('%s', (_name, candidates, request, id) => {
    expect(matchEnrollment(candidates, request).enrollmentId).toBe(id);
  });

  it.each([
    ['nothing', [], req, 'not_enrolled'],
    ['unverified group', [c({ kind: 'group' })], req, 'not_enrolled'],
    ['other tenant', [c({ tenant: 'other' })], { ...req, tenant: 'acme' }, 'not_enrolled'],
    ['other type', [c({ deviceType: 'gateway' })], req, 'device_type_mismatch'],
    ['no csr, no server keys', [c({})], { ...req, hasCsr: false }, 'server_keys_not_allowed'],
  ])('%s → %s', (_name, candidates, request, code) => {
    expect(() => matchEnrollment(candidates, request)).toThrow(
      expect.objectContaining({ code }) as Error,
    );
  });
});
