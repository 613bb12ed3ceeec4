import {
  checkRenewalSubject,
  decideProvision,
  type ExistingIdentity,
  type ProvisionFacts,
} from '../../src/domain/provisioning.rules';
import { decodeCursor, encodeCursor } from '../../src/domain/cursor';

const existing: ExistingIdentity = {
  deviceId: 'd1',
  tenant: 'acme',
  deviceType: 'sensor',
  activeKeyId: 'k1',
};
const facts = (over: Partial<ProvisionFacts>): ProvisionFacts => ({
  hardwareId: 'hw1',
  enrollment: { tenant: 'acme', deviceType: 'sensor' },
  existing: null,
  csrKeyId: 'k1',
  ...over,
});

describe('decideProvision', () => {
  it.each([
    ['first, CSR', facts({}), { newDevice: true, issue: 'csr' }],
    ['first, server key', facts({ csrKeyId: undefined }), { newDevice: true, issue: 'server_key' }],
    ['again, same key', facts({ existing }), { newDevice: false, issue: 'reuse' }],
    ['again, new key', facts({ existing, csrKeyId: 'k2' }), { newDevice: false, issue: 'csr' }],
    [
      'again, no active cert',
      facts({ existing: { ...existing, activeKeyId: null } }),
      { newDevice: false, issue: 'csr' },
    ],
    [
      'again, server key',
      facts({ existing, csrKeyId: undefined }),
      { newDevice: false, issue: 'server_key' },
    ],
    ['bootstrap CN matches', facts({ bootstrapCn: 'hw1' }), { newDevice: true, issue: 'csr' }],
  ])('%s', (_name, f, decision) => {
    expect(decideProvision(f)).toEqual(decision);
  });

  it.each([
    ['bootstrap CN differs', facts({ bootstrapCn: 'hw2' })],
    ['other tenant', facts({ existing: { ...existing, tenant: 'other' } })],
    ['other type', facts({ existing: { ...existing, deviceType: 'gateway' } })],
  ])('%s → hardware_mismatch', (_name, f) => {
    expect(() => decideProvision(f)).toThrow(
      expect.objectContaining({ code: 'hardware_mismatch' }) as Error,
    );
  });

  it('refuses a decommissioned device', () => {
    const f = facts({ existing: { ...existing, decommissioned: true } });
    expect(() => decideProvision(f)).toThrow(
      expect.objectContaining({ code: 'decommissioned' }) as Error,
    );
  });
});

describe('checkRenewalSubject', () => {
  it('accepts CN = device id', () => expect(() => checkRenewalSubject('d1', 'd1')).not.toThrow());
  it.each([['d2'], [undefined]])('refuses CN %s', (cn) => {
    expect(() => checkRenewalSubject('d1', cn)).toThrow(
      expect.objectContaining({ code: 'bad_csr' }) as Error,
    );
  });
});

describe('cursor', () => {
  it('round-trips', () => expect(decodeCursor(encodeCursor('e-1'))).toBe('e-1'));
  it.each([['%%%'], [Buffer.from('{"k":1}').toString('base64url')], ['bnVsbA']])(
    'refuses %s',
    (cursor) => expect(() => decodeCursor(cursor)).toThrow('bad cursor'),
  );
});
