// Device certificates from a CSR: proof of possession, key policy, forced CN.
import { createPublicKey, type KeyObject, verify as cryptoVerify } from 'node:crypto';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import type * as asn1X509 from '@peculiar/asn1-x509';
import { isValidId } from '@drover/contracts';
import {
  signLeaf,
  type CertificateAuthority,
  type IssuedCertificate,
  type IssuedCertificateWithKey,
} from './ca';
import { exportPrivateKeyPem, generateKeyPair, x509 } from './crypto';

/** Why a CSR or an id was refused. */
export type PkiErrorCode = 'bad_csr' | 'bad_common_name';

/** A refusal the provisioning service maps to its `{code, detail}` error answer. */
export class PkiError extends Error {
  constructor(
    /** Machine-readable code (`bad_csr`, `bad_common_name`). */
    readonly code: PkiErrorCode,
    /** Short reason, e.g. `rsa_key_too_small`, `bad_signature`. */
    readonly reason: string,
    detail: string,
  ) {
    super(detail);
    this.name = 'PkiError';
  }
}

/**
 * Platform identities (the ingress' `drover-ingress`) share the broker's username space with
 * device ids: a device certificate with such a CN would inherit the platform's ACL rights.
 */
export const RESERVED_COMMON_NAME = /^drover-/i;
/** CSRs are small; a larger input is refused before parsing. */
export const MAX_CSR_BYTES = 16 * 1024;
const MIN_RSA_BITS = 2048;
const ALLOWED_HASHES = new Set(['SHA-256', 'SHA-384', 'SHA-512']);

/** What a valid CSR tells us. */
export interface CsrInfo {
  /** The parsed request (an @peculiar/x509 object, made on first access). */
  readonly request: x509.Pkcs10CertificateRequest;
  /** `ec-p256` or `rsa`. */
  keyType: 'ec-p256' | 'rsa';
  /** Key size in bits. */
  keyBits: number;
  /** CN of the CSR subject (informational: issuing ignores it). */
  subjectCommonName: string | undefined;
  /** DER SubjectPublicKeyInfo of the CSR's key (what the certificate will carry). */
  publicKeyDer: Uint8Array;
}

/** CsrInfo objects made by {@link inspectCsr}: only these can be issued from without a check. */
const inspected = new WeakSet<CsrInfo>();

function badCsr(reason: string, detail: string): PkiError {
  return new PkiError('bad_csr', reason, detail);
}

const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
/** The namedCurve parameter of a P-256 key: DER of OID 1.2.840.10045.3.1.7 (RFC 5480). */
const OID_P256_DER = Buffer.from('06082a8648ce3d030107', 'hex');
const OID_CN = '2.5.4.3';
/** Signature algorithms checked with node:crypto; any other goes through @peculiar/x509. */
const FAST_SIGNATURES: Record<string, { hash: string; key: 'ec' | 'rsa' }> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', key: 'ec' },
  '1.2.840.10045.4.3.3': { hash: 'sha384', key: 'ec' },
  '1.2.840.10045.4.3.4': { hash: 'sha512', key: 'ec' },
  '1.2.840.113549.1.1.11': { hash: 'sha256', key: 'rsa' },
  '1.2.840.113549.1.1.12': { hash: 'sha384', key: 'rsa' },
  '1.2.840.113549.1.1.13': { hash: 'sha512', key: 'rsa' },
};

/**
 * The CSR's key as a KeyObject. An uncompressed P-256 point is imported as a JWK, which
 * OpenSSL 3 does several times faster than decoding the DER SPKI; everything else from DER.
 */
function importCsrKey(spki: asn1X509.SubjectPublicKeyInfo, spkiDer: Uint8Array): KeyObject {
  const point = new Uint8Array(spki.subjectPublicKey);
  const params = spki.algorithm.parameters;
  if (
    spki.algorithm.algorithm === OID_EC_PUBLIC_KEY &&
    params &&
    point.length === 65 &&
    point[0] === 0x04 &&
    Buffer.from(params).equals(OID_P256_DER)
  ) {
    return createPublicKey({
      key: {
        kty: 'EC',
        crv: 'P-256',
        x: Buffer.from(point.subarray(1, 33)).toString('base64url'),
        y: Buffer.from(point.subarray(33)).toString('base64url'),
      },
      format: 'jwk',
    });
  }
  return createPublicKey({ key: Buffer.from(spkiDer), format: 'der', type: 'spki' });
}

function commonNameOf(name: asn1X509.Name): string | undefined {
  for (const rdn of name) {
    for (const atv of rdn) {
      if (atv.type === OID_CN) return atv.value.toString();
    }
  }
  return undefined;
}

/** Parses a PEM CSR and checks its signature (proof of possession) and key policy. */
export async function inspectCsr(csrPem: string): Promise<CsrInfo> {
  if (typeof csrPem !== 'string' || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw badCsr('not_pem', 'expected a PEM "CERTIFICATE REQUEST"');
  }
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES) throw badCsr('too_large', 'CSR too large');
  // One parse of the DER (the x509 wrapper object is made only if a caller asks for it).
  let der: ArrayBuffer;
  let asn: CertificationRequest;
  let spkiDer: Uint8Array;
  try {
    const [block] = x509.PemConverter.decode(csrPem);
    if (!block) throw new Error('no PEM block');
    der = block;
    asn = AsnConvert.parse(der, CertificationRequest);
    spkiDer = new Uint8Array(AsnConvert.serialize(asn.certificationRequestInfo.subjectPKInfo));
  } catch (err) {
    throw badCsr('unparseable', `CSR cannot be parsed: ${(err as Error).message}`);
  }
  let request: x509.Pkcs10CertificateRequest | undefined;
  const lazyRequest = (): x509.Pkcs10CertificateRequest =>
    (request ??= new x509.Pkcs10CertificateRequest(der));
  let key: KeyObject;
  try {
    key = importCsrKey(asn.certificationRequestInfo.subjectPKInfo, spkiDer);
  } catch (err) {
    throw badCsr('unsupported_key', `CSR public key unreadable: ${(err as Error).message}`);
  }
  const details = key.asymmetricKeyDetails ?? {};
  let keyType: CsrInfo['keyType'];
  let keyBits: number;
  if (key.asymmetricKeyType === 'ec' && details.namedCurve === 'prime256v1') {
    keyType = 'ec-p256';
    keyBits = 256;
  } else if (key.asymmetricKeyType === 'rsa') {
    keyType = 'rsa';
    keyBits = details.modulusLength ?? 0;
    if (keyBits < MIN_RSA_BITS) {
      throw badCsr('rsa_key_too_small', `RSA key of ${keyBits} bits; at least ${MIN_RSA_BITS}`);
    }
  } else {
    const what = `${key.asymmetricKeyType ?? 'unknown'} ${details.namedCurve ?? ''}`.trim();
    throw badCsr('unsupported_key', `key ${what} not allowed: ECDSA P-256 or RSA >= 2048 only`);
  }
  const fast = FAST_SIGNATURES[asn.signatureAlgorithm.algorithm];
  let valid = false;
  if (fast !== undefined) {
    // A signature algorithm of the other key type cannot verify: no proof of possession.
    const tbs = asn.certificationRequestInfoRaw;
    valid =
      fast.key === key.asymmetricKeyType &&
      tbs !== undefined &&
      verifySignature(fast.hash, tbs, key, asn.signature);
  } else {
    const hash = (lazyRequest().signatureAlgorithm.hash as { name?: string } | undefined)?.name;
    if (!hash || !ALLOWED_HASHES.has(hash.toUpperCase())) {
      throw badCsr('weak_signature', `CSR signature hash ${hash ?? 'unknown'} not allowed`);
    }
    try {
      valid = await lazyRequest().verify();
    } catch (err) {
      throw badCsr('bad_signature', `CSR signature cannot be verified: ${(err as Error).message}`);
    }
  }
  if (!valid)
    throw badCsr('bad_signature', 'CSR signature does not verify (no proof of possession)');
  const info: CsrInfo = {
    get request() {
      return lazyRequest();
    },
    keyType,
    keyBits,
    subjectCommonName: commonNameOf(asn.certificationRequestInfo.subject),
    publicKeyDer: spkiDer,
  };
  inspected.add(info);
  return info;
}

function verifySignature(
  hash: string,
  tbs: ArrayBuffer,
  key: KeyObject,
  signature: ArrayBuffer,
): boolean {
  try {
    return cryptoVerify(hash, new Uint8Array(tbs), key, new Uint8Array(signature));
  } catch (err) {
    // A malformed signature value is a refusal like a wrong one, with OpenSSL's reason.
    throw badCsr('bad_signature', `CSR signature cannot be verified: ${(err as Error).message}`);
  }
}

/** Throws `bad_common_name` unless `id` is a valid, non-reserved device id. */
export function assertDeviceCommonName(id: string): void {
  if (typeof id !== 'string' || !isValidId(id)) {
    throw new PkiError('bad_common_name', 'invalid_id', 'common name must match ID_PATTERN');
  }
  if (RESERVED_COMMON_NAME.test(id)) {
    throw new PkiError('bad_common_name', 'reserved', `common name ${id} is reserved`);
  }
}

/** Parameters of {@link issueFromCsr}. */
export interface IssueFromCsrParams {
  /** The device's PKCS#10 request (PEM). Its subject is ignored. */
  csrPem: string;
  /** The device id: becomes the CN (and so the broker username). */
  commonName: string;
  /** Validity in days (default 90). */
  validityDays?: number;
  /** Certificate profile; only `device` today. */
  profile?: 'device';
  /** Optional CRL distribution point URL (needed by EMQX's CRL check). */
  crlDistributionUrl?: string;
}

/** Issues a device certificate (clientAuth) for the key in a verified CSR, CN forced. */
export async function issueFromCsr(
  ca: CertificateAuthority,
  params: IssueFromCsrParams,
): Promise<IssuedCertificate> {
  assertDeviceCommonName(params.commonName);
  const csr = await inspectCsr(params.csrPem);
  return signLeaf(ca, {
    publicKey: csr.publicKeyDer,
    commonName: params.commonName,
    validityDays: params.validityDays ?? 90,
    profile: params.profile ?? 'device',
    crlDistributionUrl: params.crlDistributionUrl,
  });
}

/**
 * Like {@link issueFromCsr} for a CSR already checked with {@link inspectCsr} (the provisioning
 * service inspects it first to compare keys): the CSR is not parsed or verified again. Only a
 * CsrInfo returned by inspectCsr is accepted.
 */
export async function issueFromInspectedCsr(
  ca: CertificateAuthority,
  csr: CsrInfo,
  params: Omit<IssueFromCsrParams, 'csrPem'>,
): Promise<IssuedCertificate> {
  if (!inspected.has(csr)) throw new TypeError('csr must come from inspectCsr');
  assertDeviceCommonName(params.commonName);
  return signLeaf(ca, {
    publicKey: csr.publicKeyDer,
    commonName: params.commonName,
    validityDays: params.validityDays ?? 90,
    profile: params.profile ?? 'device',
    crlDistributionUrl: params.crlDistributionUrl,
  });
}

/** Parameters of {@link issueWithServerKey}. */
export interface IssueWithServerKeyParams {
  /** The device id: becomes the CN. */
  commonName: string;
  /** Validity in days (default 90). */
  validityDays?: number;
  /** Optional CRL distribution point URL (needed by EMQX's CRL check). */
  crlDistributionUrl?: string;
}

/** Issues a device certificate with a key generated here (only where the enrollment allows). */
export async function issueWithServerKey(
  ca: CertificateAuthority,
  params: IssueWithServerKeyParams,
): Promise<IssuedCertificateWithKey> {
  assertDeviceCommonName(params.commonName);
  const keys = await generateKeyPair();
  const issued = await signLeaf(ca, {
    publicKey: keys.publicKey,
    commonName: params.commonName,
    validityDays: params.validityDays ?? 90,
    profile: 'device',
    crlDistributionUrl: params.crlDistributionUrl,
  });
  return { ...issued, privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}

/**
 * For renewals: the CSR must be valid and its CN must equal the device id (DEVICE-PROTOCOL.md
 * `cert/renew`). Throws `PkiError` (`bad_csr`, reason `cn_mismatch`) otherwise.
 */
export async function checkCsrCommonName(csrPem: string, expected: string): Promise<CsrInfo> {
  const info = await inspectCsr(csrPem);
  if (info.subjectCommonName !== expected) {
    throw badCsr('cn_mismatch', 'CSR common name does not match the device id');
  }
  return info;
}

/** Generates a P-256 key and a CSR for it (device simulator, tests, CLI). */
export async function createCsr(
  commonName: string,
): Promise<{ csrPem: string; privateKeyPem: string }> {
  // An id only: anything else could add attributes to the DN string.
  if (!isValidId(commonName)) throw new Error(`invalid common name ${commonName}`);
  const keys = await generateKeyPair();
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${commonName}`,
    keys,
    signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
  });
  return { csrPem: csr.toString('pem'), privateKeyPem: await exportPrivateKeyPem(keys.privateKey) };
}
