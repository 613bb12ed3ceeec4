// Device certificates from a CSR: proof of possession, key policy, forced CN.
import { createPublicKey } from 'node:crypto';
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
  /** The parsed request. */
  request: x509.Pkcs10CertificateRequest;
  /** `ec-p256` or `rsa`. */
  keyType: 'ec-p256' | 'rsa';
  /** Key size in bits. */
  keyBits: number;
  /** CN of the CSR subject (informational: issuing ignores it). */
  subjectCommonName: string | undefined;
}

function badCsr(reason: string, detail: string): PkiError {
  return new PkiError('bad_csr', reason, detail);
}

/** Parses a PEM CSR and checks its signature (proof of possession) and key policy. */
export async function inspectCsr(csrPem: string): Promise<CsrInfo> {
  if (typeof csrPem !== 'string' || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw badCsr('not_pem', 'expected a PEM "CERTIFICATE REQUEST"');
  }
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES) throw badCsr('too_large', 'CSR too large');
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(csrPem);
  } catch (err) {
    throw badCsr('unparseable', `CSR cannot be parsed: ${(err as Error).message}`);
  }
  let key;
  try {
    key = createPublicKey({
      key: Buffer.from(request.publicKey.rawData),
      format: 'der',
      type: 'spki',
    });
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
  const hash = (request.signatureAlgorithm.hash as { name?: string } | undefined)?.name;
  if (!hash || !ALLOWED_HASHES.has(hash.toUpperCase())) {
    throw badCsr('weak_signature', `CSR signature hash ${hash ?? 'unknown'} not allowed`);
  }
  let valid = false;
  try {
    valid = await request.verify();
  } catch (err) {
    throw badCsr('bad_signature', `CSR signature cannot be verified: ${(err as Error).message}`);
  }
  if (!valid)
    throw badCsr('bad_signature', 'CSR signature does not verify (no proof of possession)');
  const cn = request.subjectName.getField('CN')[0];
  return { request, keyType, keyBits, subjectCommonName: cn };
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
  const { request } = await inspectCsr(params.csrPem);
  return signLeaf(ca, {
    publicKey: request.publicKey,
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
