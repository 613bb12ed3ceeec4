// The fast paths of issuing (CSR parsed once and verified with node:crypto, leaves built from
// asn1 objects and signed with node:crypto): same checks, certificates OpenSSL accepts.
import { createPrivateKey, X509Certificate as NodeCertificate, webcrypto } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import {
  type CertificateAuthority,
  createCsr,
  createIntermediateCa,
  createRootCa,
  inspectCsr,
  issueFromCsr,
  issueFromInspectedCsr,
  issueServerCertificate,
  type CsrInfo,
  signLeaf,
  x509,
} from '@drover/pki';

let root: CertificateAuthority;
let fleet: CertificateAuthority;

beforeAll(async () => {
  root = await createRootCa({ commonName: 'Fast Root' });
  fleet = await createIntermediateCa(root, { commonName: 'Fast Fleet' });
});

async function csrWith(
  algorithm: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams,
  signing: webcrypto.Algorithm | webcrypto.EcdsaParams | webcrypto.RsaPssParams,
  name = 'CN=dev-x, O=Maker',
): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name,
    keys,
    signingAlgorithm: signing,
  });
  return csr.toString('pem');
}

const RSA = (name: string, hash: string): webcrypto.RsaHashedKeyGenParams => ({
  name,
  modulusLength: 2048,
  publicExponent: new Uint8Array([1, 0, 1]),
  hash,
});

/** Re-encodes a CSR after `edit` changed its parsed form (signature fields only). */
function rewrite(pem: string, edit: (req: CertificationRequest) => void): string {
  const req = AsnConvert.parse(x509.PemConverter.decode(pem)[0]!, CertificationRequest);
  edit(req);
  return x509.PemConverter.encode(AsnConvert.serialize(req), 'CERTIFICATE REQUEST');
}

function nodeCert(pem: string): NodeCertificate {
  return new NodeCertificate(pem);
}

describe('leaf certificates from the fast builder', () => {
  it('are signed by the CA as OpenSSL sees it, with the facts they report', async () => {
    const { csrPem } = await createCsr('dev-fast');
    const issued = await issueFromCsr(fleet, { csrPem, commonName: 'dev-fast' });
    const cert = nodeCert(issued.certificatePem);
    const caCert = nodeCert(fleet.certificatePem);
    expect(cert.verify(caCert.publicKey)).toBe(true);
    expect(cert.checkIssued(caCert)).toBe(true);
    expect(cert.subject).toBe('CN=dev-fast');
    expect(cert.fingerprint256.replace(/:/g, '').toLowerCase()).toBe(issued.fingerprintSha256);
    expect(cert.serialNumber.toLowerCase()).toBe(issued.serial);
    expect(new Date(cert.validFrom).getTime()).toBe(issued.notBefore.getTime());
    expect(new Date(cert.validTo).getTime()).toBe(issued.notAfter.getTime());
    // The subject key id is RFC 5280 method 1, as @peculiar/x509 computes it.
    const parsed = new x509.X509Certificate(issued.certificatePem);
    const expected = await x509.SubjectKeyIdentifierExtension.create(parsed.publicKey);
    expect(parsed.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toBe(expected.keyId);
    // The certificate carries the CSR's public key unchanged.
    const info = await inspectCsr(csrPem);
    expect(Buffer.from(parsed.publicKey.rawData)).toEqual(Buffer.from(info.publicKeyDer));
  });

  it.each<[string, 'device' | 'server', Partial<Record<'crl' | 'san', true>>]>([
    ['device', 'device', {}],
    ['device with a CRL distribution point', 'device', { crl: true }],
    ['server with SANs', 'server', { san: true }],
    ['a CN that needs UTF8String', 'device', {}],
  ])('encode the TBS exactly as X509CertificateGenerator does (%s)', async (name, profile, o) => {
    const cn = name.startsWith('a CN') ? 'dev_utf8' : 'dev-tbs';
    const info = await inspectCsr((await createCsr('dev-tbs')).csrPem);
    const crlDistributionUrl = o.crl ? 'http://crl.local/fleet.crl' : undefined;
    const dnsNames = o.san ? ['broker.local'] : undefined;
    const ipAddresses = o.san ? ['127.0.0.1'] : undefined;
    const issued = await signLeaf(fleet, {
      publicKey: info.publicKeyDer,
      commonName: cn,
      validityDays: 90,
      profile,
      crlDistributionUrl,
      dnsNames,
      ipAddresses,
    });
    const eku =
      profile === 'server' ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth;
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([eku], false),
      await x509.SubjectKeyIdentifierExtension.create(info.request.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(fleet.certificate.publicKey),
    ];
    if (o.san) {
      extensions.push(
        new x509.SubjectAlternativeNameExtension(
          [
            { type: 'dns', value: 'broker.local' },
            { type: 'ip', value: '127.0.0.1' },
          ],
          false,
        ),
      );
    }
    if (crlDistributionUrl) {
      extensions.push(new x509.CRLDistributionPointsExtension([crlDistributionUrl], false));
    }
    const reference = await x509.X509CertificateGenerator.create({
      serialNumber: issued.serial,
      subject: `CN=${cn}`,
      issuer: fleet.certificate.subject,
      notBefore: issued.notBefore,
      notAfter: issued.notAfter,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      publicKey: info.request.publicKey,
      signingKey: fleet.privateKey,
      extensions,
    });
    const tbsOf = (der: ArrayBuffer) =>
      Buffer.from(AsnConvert.parse(der, Certificate).tbsCertificateRaw!);
    const ours = x509.PemConverter.decode(issued.certificatePem)[0]!;
    expect(tbsOf(ours).toString('hex')).toBe(tbsOf(reference.rawData).toString('hex'));
  });

  it('keep the server profile (SANs, serverAuth) and the CRL distribution point', async () => {
    const server = await issueServerCertificate(fleet, { dnsNames: ['broker.local'] });
    const cert = nodeCert(server.certificatePem);
    expect(cert.subjectAltName).toContain('DNS:broker.local');
    expect(cert.subjectAltName).toContain('IP Address:127.0.0.1');
    expect(cert.checkPrivateKey(createPrivateKey(server.privateKeyPem))).toBe(true);
    const { csrPem } = await createCsr('dev-crl');
    const withCrl = await issueFromCsr(fleet, {
      csrPem,
      commonName: 'dev-crl',
      crlDistributionUrl: 'http://crl.local/fleet.crl',
    });
    const dp = new x509.X509Certificate(withCrl.certificatePem).getExtension(
      x509.CRLDistributionPointsExtension,
    );
    expect(JSON.stringify(dp?.distributionPoints)).toContain('crl.local');
  });

  it('fall back to the generator for a CA that is not P-256 (RSA)', async () => {
    const keys = (await webcrypto.subtle.generateKey(RSA('RSASSA-PKCS1-v1_5', 'SHA-256'), true, [
      'sign',
      'verify',
    ])) as webcrypto.CryptoKeyPair;
    const certificate = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=RSA CA',
      keys,
      signingAlgorithm: { name: 'RSASSA-PKCS1-v1_5' },
      extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
    });
    const pem = certificate.toString('pem');
    const rsaCa: CertificateAuthority = {
      certificate,
      certificatePem: pem,
      privateKey: keys.privateKey,
      chainPems: [pem],
    };
    const { csrPem } = await createCsr('dev-rsa-ca');
    const info = await inspectCsr(csrPem);
    const issued = await signLeaf(rsaCa, {
      publicKey: info.publicKeyDer,
      commonName: 'dev-rsa-ca',
      validityDays: 30,
      profile: 'device',
    });
    expect(nodeCert(issued.certificatePem).verify(nodeCert(pem).publicKey)).toBe(true);
  });
});

describe('inspectCsr', () => {
  it('accepts RSA with SHA-384 and reads the CN among other attributes', async () => {
    const pem = await csrWith(RSA('RSASSA-PKCS1-v1_5', 'SHA-384'), { name: 'RSASSA-PKCS1-v1_5' });
    const info = await inspectCsr(pem);
    expect(info).toMatchObject({ keyType: 'rsa', keyBits: 2048, subjectCommonName: 'dev-x' });
    // The x509 object is still there for callers that want it, for the same request.
    expect(info.request.subject).toBe('CN=dev-x, O=Maker');
  });

  it('accepts RSA-PSS (checked by @peculiar/x509) and refuses ECDSA with SHA-1', async () => {
    const pss = await csrWith(RSA('RSA-PSS', 'SHA-256'), { name: 'RSA-PSS', saltLength: 32 });
    await expect(inspectCsr(pss)).resolves.toMatchObject({ keyType: 'rsa' });
    const sha1 = await csrWith(
      { name: 'ECDSA', namedCurve: 'P-256' },
      { name: 'ECDSA', hash: 'SHA-1' },
    );
    await expect(inspectCsr(sha1)).rejects.toMatchObject({
      code: 'bad_csr',
      reason: 'weak_signature',
    });
  });

  it('refuses a signature algorithm of the other key type and a malformed signature', async () => {
    const { csrPem } = await createCsr('dev-y');
    const asRsa = rewrite(csrPem, (r) => {
      r.signatureAlgorithm.algorithm = '1.2.840.113549.1.1.11';
    });
    await expect(inspectCsr(asRsa)).rejects.toMatchObject({ reason: 'bad_signature' });
    const garbage = rewrite(csrPem, (r) => {
      r.signature = new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]).buffer;
    });
    await expect(inspectCsr(garbage)).rejects.toMatchObject({ reason: 'bad_signature' });
  });

  it('reports no CN when the subject has none', async () => {
    const pem = await csrWith(
      { name: 'ECDSA', namedCurve: 'P-256' },
      { name: 'ECDSA', hash: 'SHA-256' },
      'O=Maker',
    );
    expect((await inspectCsr(pem)).subjectCommonName).toBeUndefined();
  });
});

describe('issueFromInspectedCsr', () => {
  it('issues from an inspected CSR and still checks the common name', async () => {
    const { csrPem } = await createCsr('dev-z');
    const info = await inspectCsr(csrPem);
    const issued = await issueFromInspectedCsr(fleet, info, { commonName: 'd-1', validityDays: 7 });
    expect(nodeCert(issued.certificatePem).subject).toBe('CN=d-1');
    await expect(
      issueFromInspectedCsr(fleet, info, { commonName: 'drover-ingress' }),
    ).rejects.toMatchObject({ code: 'bad_common_name' });
  });

  it('refuses a CsrInfo that inspectCsr did not make (no unchecked key gets signed)', async () => {
    const { csrPem } = await createCsr('dev-w');
    const forged: CsrInfo = { ...(await inspectCsr(csrPem)) };
    await expect(issueFromInspectedCsr(fleet, forged, { commonName: 'd-2' })).rejects.toThrow(
      'csr must come from inspectCsr',
    );
  });
});
