import { webcrypto } from 'node:crypto';
import {
  checkCsrCommonName,
  createBootstrapCa,
  createCsr,
  createIntermediateCa,
  createRootCa,
  issueFromCsr,
  issueWithServerKey,
  normalizeSerial,
  PkiError,
  verifyCertificateChain,
  x509,
  type CertificateAuthority,
} from '@drover/pki';

let root: CertificateAuthority;
let fleet: CertificateAuthority;
let p256Csr: string;

async function csrFor(
  algorithm: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams,
  signing: webcrypto.Algorithm | webcrypto.EcdsaParams,
): Promise<string> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=whatever-the-device-says',
    keys,
    signingAlgorithm: signing,
  });
  return csr.toString('pem');
}

function rsaCsrPem(bits: number): Promise<string> {
  return csrFor(
    {
      name: 'RSASSA-PKCS1-v1_5',
      modulusLength: bits,
      publicExponent: new Uint8Array([1, 0, 1]),
      hash: 'SHA-256',
    },
    { name: 'RSASSA-PKCS1-v1_5' },
  );
}

function tamper(pem: string): string {
  // Flip one bit inside the signed part (the subject): the signature no longer verifies.
  const der = Buffer.from(x509.PemConverter.decode(pem)[0]!);
  const at = der.indexOf(Buffer.from('whatever'));
  der[at] = der[at]! ^ 0x01;
  return x509.PemConverter.encode(der, 'CERTIFICATE REQUEST');
}

beforeAll(async () => {
  root = await createRootCa({ commonName: 'Test Root' });
  fleet = await createIntermediateCa(root, { commonName: 'Test Fleet' });
  p256Csr = await csrFor(
    { name: 'ECDSA', namedCurve: 'P-256' },
    { name: 'ECDSA', hash: 'SHA-256' },
  );
});

describe('CSR checks', () => {
  const cases: Array<[string, () => Promise<string>, string]> = [
    [
      'ECDSA P-384 key',
      () => csrFor({ name: 'ECDSA', namedCurve: 'P-384' }, { name: 'ECDSA', hash: 'SHA-384' }),
      'unsupported_key',
    ],
    ['RSA 1024 key', () => rsaCsrPem(1024), 'rsa_key_too_small'],
    ['tampered CSR (bad signature)', async () => tamper(p256Csr), 'bad_signature'],
    [
      'garbage PEM',
      async () => '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----',
      'unparseable',
    ],
    ['not PEM at all', async () => 'hello', 'not_pem'],
    ['Ed25519 key', async () => edPem, 'unsupported_key'],
  ];
  it.each(cases)('%s is refused with bad_csr', async (_name, make, reason) => {
    const csrPem = await make();
    const err = await issueFromCsr(fleet, { csrPem, commonName: 'dev-1' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PkiError);
    expect(err).toMatchObject({ code: 'bad_csr', reason });
  });

  it('accepts RSA 2048', async () => {
    const issued = await issueFromCsr(fleet, {
      csrPem: await rsaCsrPem(2048),
      commonName: 'dev-rsa',
    });
    expect(new x509.X509Certificate(issued.certificatePem).subject).toBe('CN=dev-rsa');
  });

  it.each(['', 'a/b', '+', '#', 'x'.repeat(65), 'drover-ingress'])(
    'refuses device id %p as CN',
    async (id) => {
      await expect(issueFromCsr(fleet, { csrPem: p256Csr, commonName: id })).rejects.toMatchObject({
        code: 'bad_common_name',
      });
    },
  );
});

let edPem = '';
beforeAll(async () => {
  const keys = (await webcrypto.subtle.generateKey({ name: 'Ed25519' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  edPem = (
    await x509.Pkcs10CertificateRequestGenerator.create({
      name: 'CN=ed',
      keys,
      signingAlgorithm: { name: 'Ed25519' },
    })
  ).toString('pem');
});

describe('issueFromCsr', () => {
  it('forces the CN, sets device extensions, 90 days by default', async () => {
    const before = Date.now();
    const issued = await issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'dev-42' });
    const cert = new x509.X509Certificate(issued.certificatePem);
    expect(cert.subject).toBe('CN=dev-42');
    expect(cert.issuer).toBe(fleet.certificate.subject);
    const days = (issued.notAfter.getTime() - before) / 86_400_000;
    expect(days).toBeGreaterThan(89.99);
    expect(days).toBeLessThan(90.01);
    expect(issued.notBefore.getTime()).toBeLessThanOrEqual(before);
    const eku = cert.getExtension(x509.ExtendedKeyUsageExtension);
    expect(eku?.usages).toEqual([x509.ExtendedKeyUsage.clientAuth]);
    const ku = cert.getExtension(x509.KeyUsagesExtension);
    expect(ku?.usages).toBe(x509.KeyUsageFlags.digitalSignature);
    expect(cert.getExtension(x509.BasicConstraintsExtension)?.ca).toBe(false);
    const aki = cert.getExtension(x509.AuthorityKeyIdentifierExtension);
    const caSki = fleet.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
    expect(aki?.keyId).toBe(caSki?.keyId);
    expect(cert.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId).toMatch(/^[0-9a-f]{40}$/);
    expect(normalizeSerial(cert.serialNumber)).toBe(normalizeSerial(issued.serial));
    expect(issued.serial).toMatch(/^[0-9a-f]{32}$/);
    expect(parseInt(issued.serial[0]!, 16)).toBeLessThan(8);
    expect(issued.fingerprintSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('honours validityDays', async () => {
    const issued = await issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'd', validityDays: 7 });
    const days = (issued.notAfter.getTime() - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(7);
    await expect(
      issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'd', validityDays: 0 }),
    ).rejects.toThrow(RangeError);
  });

  it('gives every certificate a different serial', async () => {
    const serials = await Promise.all(
      Array.from({ length: 50 }, () => issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'd' })),
    );
    expect(new Set(serials.map((s) => s.serial)).size).toBe(50);
  });

  it('issueWithServerKey returns a key matching the certificate', async () => {
    const issued = await issueWithServerKey(fleet, { commonName: 'dev-srv' });
    expect(issued.privateKeyPem).toContain('BEGIN PRIVATE KEY');
    const cert = new x509.X509Certificate(issued.certificatePem);
    const key = await webcrypto.subtle.importKey(
      'pkcs8',
      x509.PemConverter.decode(issued.privateKeyPem)[0]!,
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const data = new Uint8Array([1, 2, 3]);
    const sig = await webcrypto.subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, key, data);
    const pub = await cert.publicKey.export({ name: 'ECDSA', namedCurve: 'P-256' }, ['verify']);
    const ok = await webcrypto.subtle.verify(
      { name: 'ECDSA', hash: 'SHA-256' },
      pub as unknown as webcrypto.CryptoKey,
      sig,
      data,
    );
    expect(ok).toBe(true);
  });
});

describe('checkCsrCommonName (renewal)', () => {
  it('accepts a CSR whose CN is the device id and refuses another', async () => {
    const { csrPem } = await createCsr('dev-7');
    await expect(checkCsrCommonName(csrPem, 'dev-7')).resolves.toMatchObject({
      keyType: 'ec-p256',
    });
    await expect(checkCsrCommonName(csrPem, 'dev-8')).rejects.toMatchObject({
      code: 'bad_csr',
      reason: 'cn_mismatch',
    });
  });
});

describe('verifyCertificateChain', () => {
  it.each<[string, () => Promise<{ cert: string; chain: string[] }>, string | null]>([
    [
      'device cert with the fleet chain',
      async () => ({
        cert: (await issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'a' })).certificatePem,
        chain: fleet.chainPems,
      }),
      null,
    ],
    [
      'cert from another CA',
      async () => {
        const other = await createBootstrapCa();
        const cert = (await issueWithServerKey(other, { commonName: 'a' })).certificatePem;
        return { cert, chain: fleet.chainPems };
      },
      'no_path',
    ],
    [
      'chain without the root',
      async () => ({
        cert: (await issueFromCsr(fleet, { csrPem: p256Csr, commonName: 'a' })).certificatePem,
        chain: [fleet.certificatePem],
      }),
      'untrusted_root',
    ],
    ['garbage', async () => ({ cert: 'nope', chain: fleet.chainPems }), 'unparseable'],
  ])('%s', async (_name, make, reason) => {
    const { cert, chain } = await make();
    const res = await verifyCertificateChain(cert, chain);
    if (reason === null) {
      expect(res.ok).toBe(true);
      if (res.ok) expect(res.chain).toHaveLength(3);
    } else {
      expect(res).toEqual({ ok: false, reason });
    }
  });

  it('refuses an expired certificate', async () => {
    const issued = await issueFromCsr(fleet, {
      csrPem: p256Csr,
      commonName: 'old',
      validityDays: 1,
    });
    const later = new Date(Date.now() + 2 * 86_400_000);
    expect(
      await verifyCertificateChain(issued.certificatePem, fleet.chainPems, { now: later }),
    ).toEqual({
      ok: false,
      reason: 'expired',
    });
  });

  it('marks the fleet CA pathLen 0 and the root 10 years', () => {
    expect(fleet.certificate.getExtension(x509.BasicConstraintsExtension)).toMatchObject({
      ca: true,
      pathLength: 0,
    });
    const years = (root.certificate.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
    expect(Math.round(years)).toBe(10);
    const fleetYears = (fleet.certificate.notAfter.getTime() - Date.now()) / (365.25 * 86_400_000);
    expect(Math.round(fleetYears)).toBe(5);
  });
});
