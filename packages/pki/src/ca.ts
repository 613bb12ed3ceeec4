// Certificate authorities and the certificates Drover signs itself (CAs, broker server
// certificate, service identities). Device certificates from a CSR live in issue.ts.
import { createHash, webcrypto } from 'node:crypto';
import { isValidId } from '@drover/contracts';
import {
  type CryptoKey,
  ECDSA_SHA256,
  exportPrivateKeyPem,
  fingerprintSha256,
  generateKeyPair,
  randomSerial,
  x509,
} from './crypto';
import { buildLeaf } from './leaf-builder';

const DAY_MS = 86_400_000;
/** Backdating of notBefore so a device whose clock is a little behind accepts a new certificate. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** A CA: its certificate, its signing key and the chain devices must be given. */
export interface CertificateAuthority {
  /** The parsed CA certificate. */
  certificate: x509.X509Certificate;
  /** PEM of the CA certificate. */
  certificatePem: string;
  /** The CA's signing key. */
  privateKey: CryptoKey;
  /** PEM certificates from this CA up to and including its root (this CA first). */
  chainPems: string[];
}

/** What every issued certificate reports back (the fields the provisioning service stores). */
export interface IssuedCertificate {
  /** PEM of the new certificate. */
  certificatePem: string;
  /** Serial as lower-case hex (as in the CRL). */
  serial: string;
  /** Start of validity. */
  notBefore: Date;
  /** End of validity. */
  notAfter: Date;
  /** Lower-case hex SHA-256 of the DER certificate (AWS/Azure thumbprints use it too). */
  fingerprintSha256: string;
}

/** An issued certificate together with the key the server generated for it. */
export interface IssuedCertificateWithKey extends IssuedCertificate {
  /** PKCS#8 PEM private key: hand it over once, never store it. */
  privateKeyPem: string;
}

/** Options of a CA. */
export interface CaOptions {
  /** Subject CN. */
  commonName: string;
  /** Subject O (default `Drover`). */
  organization?: string;
  /** Validity in years. */
  validityYears?: number;
  /** Issuing time (tests); default now. */
  now?: Date;
}

function dn(commonName: string, organization = 'Drover'): string {
  // Only simple names: a DN-special character would let a caller smuggle extra attributes.
  if (
    !/^[A-Za-z0-9 _.-]{1,64}$/.test(commonName) ||
    !/^[A-Za-z0-9 _.-]{1,64}$/.test(organization)
  ) {
    throw new Error(`unsupported characters in subject ${commonName} / ${organization}`);
  }
  return `CN=${commonName}, O=${organization}`;
}

function addYears(d: Date, years: number): Date {
  const r = new Date(d);
  r.setUTCFullYear(r.getUTCFullYear() + years);
  return r;
}

async function caExtensions(publicKey: CryptoKey, pathLength?: number): Promise<x509.Extension[]> {
  return [
    new x509.BasicConstraintsExtension(true, pathLength, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
    await x509.SubjectKeyIdentifierExtension.create(publicKey),
  ];
}

/** A self-signed root CA (10 years by default). `pathLength` undefined = unlimited. */
export async function createRootCa(
  opts: CaOptions & { pathLength?: number },
): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const now = opts.now ?? new Date();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: dn(opts.commonName, opts.organization),
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: addYears(now, opts.validityYears ?? 10),
    signingAlgorithm: ECDSA_SHA256,
    keys,
    extensions: await caExtensions(keys.publicKey, opts.pathLength),
  });
  const certificatePem = certificate.toString('pem');
  return { certificate, certificatePem, privateKey: keys.privateKey, chainPems: [certificatePem] };
}

/** An intermediate CA under `parent` (5 years, pathLen 0: it signs only end-entity certificates). */
export async function createIntermediateCa(
  parent: CertificateAuthority,
  opts: CaOptions,
): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const now = opts.now ?? new Date();
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: dn(opts.commonName, opts.organization),
    issuer: parent.certificate.subject,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: addYears(now, opts.validityYears ?? 5),
    signingAlgorithm: ECDSA_SHA256,
    publicKey: keys.publicKey,
    signingKey: parent.privateKey,
    extensions: [
      ...(await caExtensions(keys.publicKey, 0)),
      await x509.AuthorityKeyIdentifierExtension.create(parent.certificate.publicKey),
    ],
  });
  const certificatePem = certificate.toString('pem');
  return {
    certificate,
    certificatePem,
    privateKey: keys.privateKey,
    chainPems: [certificatePem, ...parent.chainPems],
  };
}

/** The development bootstrap ("factory") CA: its own root, unrelated to the fleet CA. */
export function createBootstrapCa(opts: Partial<CaOptions> = {}): Promise<CertificateAuthority> {
  return createRootCa({ commonName: 'Drover Bootstrap CA', ...opts, pathLength: 0 });
}

/** What a leaf certificate is for. */
export type LeafProfile = 'device' | 'bootstrap' | 'service' | 'server';

/** Parameters of {@link signLeaf}. */
export interface LeafParams {
  /** Subject public key (a CryptoKey or the CSR's PublicKey). */
  publicKey: x509.PublicKeyType;
  /** Subject CN. */
  commonName: string;
  /** Validity in days from now. */
  validityDays: number;
  /** Profile: decides the extended key usage. */
  profile: LeafProfile;
  /** DNS names (server profile). */
  dnsNames?: string[];
  /** IP addresses (server profile). */
  ipAddresses?: string[];
  /** Issuing time (tests); default now. */
  now?: Date;
  /** CRL distribution point URL (EMQX fetches the CRL from it; Mosquitto uses its crlfile). */
  crlDistributionUrl?: string;
}

/** Signs an end-entity certificate with `ca`. Callers validate the CN first. */
export async function signLeaf(
  ca: CertificateAuthority,
  p: LeafParams,
): Promise<IssuedCertificate> {
  if (!Number.isInteger(p.validityDays) || p.validityDays < 1 || p.validityDays > 3650) {
    throw new RangeError(`validityDays must be an integer in 1..3650, got ${p.validityDays}`);
  }
  const now = p.now ?? new Date();
  const serial = randomSerial();
  const extra: x509.Extension[] = [];
  const names = [
    ...(p.dnsNames ?? []).map((value) => ({ type: 'dns' as const, value })),
    ...(p.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  if (names.length > 0) extra.push(new x509.SubjectAlternativeNameExtension(names, false));
  if (p.crlDistributionUrl) {
    extra.push(new x509.CRLDistributionPointsExtension([p.crlDistributionUrl], false));
  }
  const built = await buildLeaf(ca, {
    spkiDer: await spkiOf(p.publicKey),
    commonName: p.commonName,
    validityDays: p.validityDays,
    profile: p.profile,
    serial,
    now,
    clockSkewMs: CLOCK_SKEW_MS,
    extraExtensions: extra,
  });
  if (built !== undefined) {
    return {
      certificatePem: x509.PemConverter.encode(built.der, 'CERTIFICATE'),
      serial,
      notBefore: built.notBefore,
      notAfter: built.notAfter,
      fingerprintSha256: createHash('sha256').update(built.der).digest('hex'),
    };
  }
  // A CA whose key is not P-256 ECDSA: the generic generator.
  const eku =
    p.profile === 'server'
      ? [x509.ExtendedKeyUsage.serverAuth]
      : [x509.ExtendedKeyUsage.clientAuth];
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(eku, false),
    await x509.SubjectKeyIdentifierExtension.create(p.publicKey),
    await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
    ...extra,
  ];
  const certificate = await x509.X509CertificateGenerator.create({
    serialNumber: serial,
    subject: `CN=${p.commonName}`,
    issuer: ca.certificate.subject,
    notBefore: new Date(now.getTime() - CLOCK_SKEW_MS),
    notAfter: new Date(now.getTime() + p.validityDays * DAY_MS),
    signingAlgorithm: ECDSA_SHA256,
    publicKey: p.publicKey,
    signingKey: ca.privateKey,
    extensions,
  });
  return {
    certificatePem: certificate.toString('pem'),
    serial,
    notBefore: certificate.notBefore,
    notAfter: certificate.notAfter,
    fingerprintSha256: fingerprintSha256(certificate),
  };
}

/** DER SubjectPublicKeyInfo of any key form signLeaf accepts. */
async function spkiOf(key: x509.PublicKeyType): Promise<Uint8Array> {
  if (key instanceof x509.PublicKey) return new Uint8Array(key.rawData);
  if (ArrayBuffer.isView(key)) return new Uint8Array(key.buffer, key.byteOffset, key.byteLength);
  if (key instanceof ArrayBuffer) return new Uint8Array(key);
  if ('publicKey' in key) return new Uint8Array(key.publicKey.rawData);
  return new Uint8Array(await webcrypto.subtle.exportKey('spki', key as CryptoKey));
}

/** Parameters of {@link issueServerCertificate}. */
export interface ServerCertificateOptions {
  /** Subject CN (default `localhost`). */
  commonName?: string;
  /** DNS SANs (default `localhost`). */
  dnsNames?: string[];
  /** IP SANs (default `127.0.0.1`). */
  ipAddresses?: string[];
  /** Validity in days (default 365). */
  validityDays?: number;
}

/** The broker's TLS server certificate, with a fresh key (SAN 127.0.0.1 and localhost). */
export async function issueServerCertificate(
  ca: CertificateAuthority,
  opts: ServerCertificateOptions = {},
): Promise<IssuedCertificateWithKey> {
  const keys = await generateKeyPair();
  const issued = await signLeaf(ca, {
    publicKey: keys.publicKey,
    commonName: opts.commonName ?? 'localhost',
    validityDays: opts.validityDays ?? 365,
    profile: 'server',
    dnsNames: opts.dnsNames ?? ['localhost'],
    ipAddresses: opts.ipAddresses ?? ['127.0.0.1'],
  });
  return { ...issued, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/** Parameters of {@link issueClientCertificate}. */
export interface ClientCertificateOptions {
  /** Subject CN: the MQTT username the broker derives (an id, ID_PATTERN). */
  commonName: string;
  /** `service` (e.g. `drover-ingress`), `bootstrap` (CN = hardware id) or `device`. */
  profile: 'service' | 'bootstrap' | 'device';
  /** Validity in days (default 365). */
  validityDays?: number;
  /** Issuing time (tests, e.g. an already expired certificate); default now. */
  now?: Date;
}

/** A client certificate with a server-generated key (service identities, dev bootstrap certs). */
export async function issueClientCertificate(
  ca: CertificateAuthority,
  opts: ClientCertificateOptions,
): Promise<IssuedCertificateWithKey> {
  if (!isValidId(opts.commonName)) throw new Error(`invalid common name ${opts.commonName}`);
  const keys = await generateKeyPair();
  const issued = await signLeaf(ca, {
    publicKey: keys.publicKey,
    commonName: opts.commonName,
    validityDays: opts.validityDays ?? 365,
    profile: opts.profile,
    now: opts.now,
  });
  return { ...issued, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}
