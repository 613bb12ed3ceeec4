// Leaves written from the per-CA DER template (leaf-builder): the same content as the generator's
// (extensions, validity encodings on both sides of 2050), chains that verify against the CA,
// unique serials, and a refused public key that is not a SubjectPublicKeyInfo.
import { X509Certificate as NodeCertificate } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import { Certificate } from '@peculiar/asn1-x509';
import {
  type CertificateAuthority,
  createCsr,
  createIntermediateCa,
  createRootCa,
  inspectCsr,
  issueFromInspectedCsr,
  signLeaf,
  verifyCertificateChain,
  x509,
} from '@drover/pki';

let root: CertificateAuthority;
let fleet: CertificateAuthority;

beforeAll(async () => {
  root = await createRootCa({ commonName: 'Template Root' });
  fleet = await createIntermediateCa(root, { commonName: 'Template Fleet' });
});

const DAY_MS = 86_400_000;
const SKEW_MS = 5 * 60_000;
const tbsOf = (der: ArrayBuffer) =>
  Buffer.from(AsnConvert.parse(der, Certificate).tbsCertificateRaw!).toString('hex');

/** The certificate X509CertificateGenerator makes with the same serial, dates and key. */
async function reference(pem: string, info: { request: x509.Pkcs10CertificateRequest }) {
  const ours = new x509.X509Certificate(pem);
  return x509.X509CertificateGenerator.create({
    serialNumber: ours.serialNumber,
    subject: ours.subject,
    issuer: fleet.certificate.subject,
    notBefore: ours.notBefore,
    notAfter: ours.notAfter,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
    publicKey: info.request.publicKey,
    signingKey: fleet.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
      await x509.SubjectKeyIdentifierExtension.create(info.request.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(fleet.certificate.publicKey),
    ],
  });
}

describe('template-built leaves', () => {
  it('equal the generator in content, verify against the CA, and have unique serials', async () => {
    const serials = new Set<string>();
    const fleetNode = new NodeCertificate(fleet.certificatePem);
    for (let i = 0; i < 40; i++) {
      const info = await inspectCsr((await createCsr(`dev-${i}`)).csrPem);
      const now = new Date();
      const issued = await issueFromInspectedCsr(fleet, info, {
        commonName: `d-${i}`,
        validityDays: 30,
      });
      serials.add(issued.serial);
      // node:crypto (OpenSSL) and @peculiar/x509 both parse it and see the CA's signature.
      const cert = new NodeCertificate(issued.certificatePem);
      expect(cert.verify(fleetNode.publicKey)).toBe(true);
      expect(cert.checkIssued(fleetNode)).toBe(true);
      expect(cert.ca).toBe(false);
      expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
      expect(cert.subjectAltName).toBeUndefined();
      const chain = await verifyCertificateChain(issued.certificatePem, fleet.chainPems);
      expect(chain.ok).toBe(true);
      // Validity: 5 minutes of clock skew before now, validityDays after, whole seconds.
      expect(issued.notAfter.getTime() - issued.notBefore.getTime()).toBeGreaterThan(
        30 * DAY_MS + SKEW_MS - 2000,
      );
      expect(Math.abs(issued.notBefore.getTime() - (now.getTime() - SKEW_MS))).toBeLessThan(2000);
      expect(new Date(cert.validTo).getTime()).toBe(issued.notAfter.getTime());
      if (i < 3) {
        const ref = await reference(issued.certificatePem, info);
        const ours = x509.PemConverter.decode(issued.certificatePem)[0]!;
        expect(tbsOf(ours)).toBe(tbsOf(ref.rawData));
        const parsed = new x509.X509Certificate(issued.certificatePem);
        expect(parsed.extensions.map((e) => [e.type, e.critical])).toEqual(
          ref.extensions.map((e) => [e.type, e.critical]),
        );
      }
    }
    expect(serials.size).toBe(40);
  });

  it('encode validity as UTCTime before 2050 and GeneralizedTime from 2050, like the generator', async () => {
    const info = await inspectCsr((await createCsr('dev-2050')).csrPem);
    const issued = await signLeaf(fleet, {
      publicKey: info.publicKeyDer,
      commonName: 'dev-2050',
      validityDays: 3650,
      profile: 'device',
      now: new Date('2041-06-30T12:34:56.789Z'),
    });
    expect(issued.notBefore.toISOString()).toBe('2041-06-30T12:29:56.000Z');
    expect(issued.notAfter.getUTCFullYear()).toBe(2051);
    const ours = x509.PemConverter.decode(issued.certificatePem)[0]!;
    const ref = await reference(issued.certificatePem, info);
    expect(tbsOf(ours)).toBe(tbsOf(ref.rawData));
    expect(new Date(new NodeCertificate(issued.certificatePem).validTo).getTime()).toBe(
      issued.notAfter.getTime(),
    );
  });

  it('refuse a public key that is not a DER SubjectPublicKeyInfo', async () => {
    const info = await inspectCsr((await createCsr('dev-bad')).csrPem);
    const good = Buffer.from(info.publicKeyDer);
    const sign = (publicKey: Uint8Array) =>
      signLeaf(fleet, { publicKey, commonName: 'dev-bad', validityDays: 1, profile: 'device' });
    await expect(sign(good.subarray(0, good.length - 1))).rejects.toThrow(TypeError);
    await expect(sign(Buffer.concat([good, Buffer.from([0])]))).rejects.toThrow(TypeError);
    await expect(sign(Buffer.from('3000', 'hex'))).rejects.toThrow(TypeError);
    await expect(sign(Buffer.from('30', 'hex'))).rejects.toThrow(TypeError);
  });
});
