import {
  type CertificateFacts,
  expiryAction,
  nextRunAt,
  supersededToRevoke,
} from '../../src/domain/certificate.lifecycle';

const certs: CertificateFacts[] = [
  { serial: 'aa', status: 'superseded', issuedAtMs: 100 },
  { serial: 'bb', status: 'active', issuedAtMs: 200 },
  { serial: 'cc', status: 'revoked', issuedAtMs: 50 },
];

describe('supersededToRevoke', () => {
  it.each([
    ['reconnect after issue', certs, { connectedAtMs: 300 }, ['aa']],
    ['presence before issue', certs, { connectedAtMs: 150 }, []],
    ['serial of the new cert', certs, { connectedAtMs: 150, certSerial: 'bb' }, ['aa']],
    ['serial of the old cert', certs, { connectedAtMs: 300, certSerial: 'aa' }, []],
    ['no active cert', [certs[0]!], { connectedAtMs: 300 }, []],
  ])('%s', (_name, list, evidence, serials) => {
    expect(supersededToRevoke(list, evidence)).toEqual(serials);
  });
});

describe('expiryAction', () => {
  const DAY = 86_400_000;
  const base = {
    nowMs: 0,
    renewBeforeDays: 30,
    online: true,
    rotateRequestedAtMs: null,
    rotateRetryMs: DAY,
  };
  it.each([
    ['outside window', { notAfterMs: 31 * DAY }, { daysLeft: 31, action: 'none' }],
    ['online in window', { notAfterMs: 10 * DAY }, { daysLeft: 10, action: 'rotate' }],
    ['offline', { notAfterMs: 10 * DAY, online: false }, { daysLeft: 10, action: 'offline' }],
    [
      'asked recently',
      { notAfterMs: 10 * DAY, rotateRequestedAtMs: -1000 },
      { daysLeft: 10, action: 'wait' },
    ],
    [
      'asked long ago',
      { notAfterMs: 10 * DAY, rotateRequestedAtMs: -2 * DAY },
      { daysLeft: 10, action: 'rotate' },
    ],
    ['expired, offline', { notAfterMs: -DAY, online: false }, { daysLeft: -1, action: 'offline' }],
  ])('%s', (_name, over, verdict) => {
    expect(expiryAction({ ...base, ...over })).toEqual(verdict);
  });

  it('next run is one interval later', () => expect(nextRunAt(1000, 500)).toBe(1500));
});
