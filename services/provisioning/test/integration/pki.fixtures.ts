// CSRs and bootstrap certificates for the tests, made with the real PKI.
import { webcrypto } from 'node:crypto';
import { type CertificateAuthority, createCsr, issueClientCertificate, x509 } from '@drover/pki';

export { createCsr };

/** A bootstrap certificate (CN = hardware id) from `ca`. */
export async function bootstrapCert(ca: CertificateAuthority, hardwareId: string): Promise<string> {
  const issued = await issueClientCertificate(ca, { commonName: hardwareId, profile: 'bootstrap' });
  return issued.certificatePem;
}

/** A CSR whose signature does not verify (one signature byte flipped). */
export async function tamperedCsr(): Promise<string> {
  const { csrPem } = await createCsr('whatever');
  const der = Buffer.from(new x509.Pkcs10CertificateRequest(csrPem).rawData);
  der[der.length - 3] = der[der.length - 3]! ^ 0xff;
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

/** A well-signed CSR for a key the policy refuses (RSA 1024). */
export async function weakKeyCsr(): Promise<string> {
  const alg = {
    name: 'RSASSA-PKCS1-v1_5',
    hash: 'SHA-256',
    publicExponent: new Uint8Array([1, 0, 1]),
    modulusLength: 1024,
  };
  const keys = await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify']);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: 'CN=weak',
    keys: keys as unknown as Parameters<
      typeof x509.Pkcs10CertificateRequestGenerator.create
    >[0]['keys'],
    signingAlgorithm: alg,
  });
  return csr.toString('pem');
}

/** CN of a certificate. */
export function commonName(pem: string): string | undefined {
  return new x509.X509Certificate(pem).subjectName.getField('CN')[0];
}
