import {
  createCrl,
  createIntermediateCa,
  createRootCa,
  crlSerials,
  issueWithServerKey,
  x509,
  type CertificateAuthority,
} from '@drover/pki';

let fleet: CertificateAuthority;

beforeAll(async () => {
  const root = await createRootCa({ commonName: 'CRL Root' });
  fleet = await createIntermediateCa(root, { commonName: 'CRL Fleet' });
});

describe('createCrl', () => {
  it('lists the revoked serials with reasons, number and dates, signed by the CA', async () => {
    const a = await issueWithServerKey(fleet, { commonName: 'a' });
    const b = await issueWithServerKey(fleet, { commonName: 'b' });
    const thisUpdate = new Date('2026-01-01T00:00:00Z');
    const nextUpdate = new Date('2026-01-08T00:00:00Z');
    const pem = await createCrl(
      fleet,
      [
        { serial: a.serial, revokedAt: new Date('2025-12-31T00:00:00Z'), reason: 'keyCompromise' },
        { serial: b.serial.toUpperCase(), revokedAt: new Date('2025-12-30T00:00:00Z') },
      ],
      { thisUpdate, nextUpdate, crlNumber: 7 },
    );
    expect(pem).toMatch(/^-----BEGIN X509 CRL-----/);
    expect(crlSerials(pem).sort()).toEqual([a.serial, b.serial].sort());
    const crl = new x509.X509Crl(pem);
    expect(crl.thisUpdate).toEqual(thisUpdate);
    expect(crl.nextUpdate).toEqual(nextUpdate);
    expect(crl.findRevoked(a.serial)?.reason).toBe(x509.X509CrlReason.keyCompromise);
    expect(crl.findRevoked(b.serial)?.reason).toBeUndefined();
    expect(await crl.verify({ publicKey: fleet.certificate })).toBe(true);
    const crlNumber = crl.getExtension('2.5.29.20');
    expect(Buffer.from(crlNumber!.value).toString('hex')).toBe('020107');
  });

  it('with a distribution URL: a critical IDP in the CRL and the CDP in certificates', async () => {
    const url = 'http://pki.example/fleet.crl';
    const cert = await issueWithServerKey(fleet, { commonName: 'e', crlDistributionUrl: url });
    const cdp = new x509.X509Certificate(cert.certificatePem).getExtension(
      x509.CRLDistributionPointsExtension,
    );
    expect(JSON.stringify(cdp?.distributionPoints)).toContain(url);
    const now = new Date();
    const pem = await createCrl(fleet, [], {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 1000),
      crlNumber: 2,
      distributionUrl: url,
    });
    const idp = new x509.X509Crl(pem).getExtension('2.5.29.28');
    expect(idp?.critical).toBe(true);
    expect(Buffer.from(idp!.value).toString('latin1')).toContain(url);
  });

  it('an empty CRL is valid', async () => {
    const now = new Date();
    const pem = await createCrl(fleet, [], {
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 1000),
      crlNumber: 1,
    });
    expect(crlSerials(pem)).toEqual([]);
  });

  it.each([
    ['negative number', -1, 1000],
    ['fractional number', 1.5, 1000],
    ['nextUpdate before thisUpdate', 1, -1000],
  ])('refuses %s', async (_name, crlNumber, delta) => {
    const now = new Date();
    await expect(
      createCrl(fleet, [], {
        thisUpdate: now,
        nextUpdate: new Date(now.getTime() + delta),
        crlNumber,
      }),
    ).rejects.toThrow(RangeError);
  });
});
