// The fast path of leaf signing. The certificate is written as DER from a per-CA template and
// signed with node:crypto (one synchronous OpenSSL call) instead of going through
// X509CertificateGenerator, which exports the CA's public key for every authority key id, maps
// every field through the @peculiar/asn1-schema layer, signs through WebCrypto's thread pool and
// parses the certificate it just encoded. The structure is RFC 5280's TBSCertificate with the
// fields and extensions signLeaf has always written (unit tests check the encoding equals the
// generator's, byte for byte). What does not change between the certificates of one CA (version,
// signature algorithm, issuer name, fixed extensions, authority key id, the signing KeyObject)
// is encoded once per CA; per certificate only serial, validity, subject, public key and
// subject key id are written, by concatenating DER pieces (no ASN.1 object tree).
import { createHash, KeyObject, sign as nodeSign } from 'node:crypto';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { type CertificateAuthority, type LeafProfile } from './ca';
import { x509 } from './crypto';

const DAY_MS = 86_400_000;
/** ecdsa-with-SHA256 (RFC 5758): the only signature Drover's CAs make (P-256 keys). */
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

// DER tags.
const INTEGER = 0x02;
const BIT_STRING = 0x03;
const OCTET_STRING = 0x04;
const UTF8_STRING = 0x0c;
const PRINTABLE_STRING = 0x13;
const UTC_TIME = 0x17;
const GENERALIZED_TIME = 0x18;
const SEQUENCE = 0x30;
const SET = 0x31;
const EXTENSIONS_TAG = 0xa3; // [3] EXPLICIT
/** `[0] EXPLICIT INTEGER 2`: version v3. */
const VERSION_V3 = Buffer.from('a003020102', 'hex');
/** OID id-at-commonName (2.5.4.3), DER. */
const OID_COMMON_NAME_DER = Buffer.from('0603550403', 'hex');
/** OID id-ce-subjectKeyIdentifier (2.5.29.14), DER. */
const OID_SKI_DER = Buffer.from('0603551d0e', 'hex');

interface CaCache {
  /** The CA object the entry was built for (a replaced key or certificate rebuilds it). */
  certificate: x509.X509Certificate;
  privateKey: CertificateAuthority['privateKey'];
  signingKey: KeyObject;
  /** DER AlgorithmIdentifier of ecdsa-with-SHA256 (TBS `signature` and `signatureAlgorithm`). */
  algorithm: Buffer;
  /** DER of the TBS fields between the serial and the validity: signature algorithm, issuer. */
  algorithmAndIssuer: Buffer;
  /** DER of the extensions every leaf of a profile gets, in order, before the subject key id. */
  fixed: Map<LeafProfile, Buffer>;
  /** DER of the authority key id extension (after the subject key id). */
  authorityKeyId: Buffer;
}

const caches = new WeakMap<CertificateAuthority, CaCache>();

/** DER length octets. */
function derLength(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  if (n < 0x100) return Buffer.from([0x81, n]);
  if (n < 0x10000) return Buffer.from([0x82, n >> 8, n & 0xff]);
  return Buffer.from([0x83, n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

/** A DER TLV of `tag` around the concatenated `parts`. */
function tlv(tag: number, ...parts: Buffer[]): Buffer {
  const body = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
  return Buffer.concat([Buffer.from([tag]), derLength(body.length), body]);
}

/** Reads the TLV at `at`: its tag, where its content starts and ends. */
function readTlv(buf: Uint8Array, at: number): { tag: number; start: number; end: number } {
  if (at + 2 > buf.length) throw new TypeError('not a SubjectPublicKeyInfo');
  const tag = buf[at]!;
  let len = buf[at + 1]!;
  let start = at + 2;
  if (len & 0x80) {
    const octets = len & 0x7f;
    if (octets < 1 || octets > 3 || start + octets > buf.length) {
      throw new TypeError('not a SubjectPublicKeyInfo');
    }
    len = 0;
    for (let i = 0; i < octets; i++) len = len * 256 + buf[start + i]!;
    start += octets;
  }
  const end = start + len;
  if (end > buf.length) throw new TypeError('not a SubjectPublicKeyInfo');
  return { tag, start, end };
}

/**
 * The subjectPublicKey bits of a DER SubjectPublicKeyInfo (SEQUENCE { AlgorithmIdentifier,
 * BIT STRING }), without the unused-bits octet; throws a TypeError for anything else.
 */
function subjectPublicKeyBits(spki: Uint8Array): Uint8Array {
  const outer = readTlv(spki, 0);
  if (outer.tag !== SEQUENCE || outer.end !== spki.length) {
    throw new TypeError('not a SubjectPublicKeyInfo');
  }
  const alg = readTlv(spki, outer.start);
  const key = readTlv(spki, alg.end);
  if (alg.tag !== SEQUENCE || key.tag !== BIT_STRING || key.end !== outer.end) {
    throw new TypeError('not a SubjectPublicKeyInfo');
  }
  if (key.end - key.start < 1) throw new TypeError('not a SubjectPublicKeyInfo');
  return spki.subarray(key.start + 1, key.end);
}

async function caCache(ca: CertificateAuthority): Promise<CaCache | undefined> {
  const cached = caches.get(ca);
  if (cached && cached.certificate === ca.certificate && cached.privateKey === ca.privateKey) {
    return cached;
  }
  // Drover's CAs are P-256 ECDSA; anything else takes the generic (generator) path.
  const alg = ca.privateKey.algorithm as { name?: string; namedCurve?: string };
  if (alg.name !== 'ECDSA' || alg.namedCurve !== 'P-256') return undefined;
  const parsed = AsnConvert.parse(ca.certificate.rawData, asn1X509.Certificate);
  const aki = await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey);
  const algorithm = Buffer.from(
    AsnConvert.serialize(new asn1X509.AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })),
  );
  const entry: CaCache = {
    certificate: ca.certificate,
    privateKey: ca.privateKey,
    signingKey: KeyObject.from(ca.privateKey as Parameters<typeof KeyObject.from>[0]),
    algorithm,
    // The issuer name exactly as encoded in the CA certificate's subject.
    algorithmAndIssuer: Buffer.concat([
      algorithm,
      Buffer.from(AsnConvert.serialize(parsed.tbsCertificate.subject)),
    ]),
    fixed: new Map(),
    authorityKeyId: Buffer.from(aki.rawData),
  };
  caches.set(ca, entry);
  return entry;
}

function fixedExtensions(cache: CaCache, profile: LeafProfile): Buffer {
  let exts = cache.fixed.get(profile);
  if (exts === undefined) {
    const eku =
      profile === 'server'
        ? [x509.ExtendedKeyUsage.serverAuth]
        : [x509.ExtendedKeyUsage.clientAuth];
    exts = Buffer.concat(
      [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(eku, false),
      ].map((e) => Buffer.from(e.rawData)),
    );
    cache.fixed.set(profile, exts);
  }
  return exts;
}

/** PrintableString when the value allows it, else UTF8String (as @peculiar/x509's Name does). */
function directoryString(value: string): Buffer {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)
    ? tlv(PRINTABLE_STRING, Buffer.from(value, 'latin1'))
    : tlv(UTF8_STRING, Buffer.from(value, 'utf8'));
}

const two = (n: number) => String(n).padStart(2, '0');

/** RFC 5280 4.1.2.5: UTCTime (YYMMDDHHMMSSZ) through 2049, GeneralizedTime from 2050. */
function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const rest =
    two(date.getUTCMonth() + 1) +
    two(date.getUTCDate()) +
    two(date.getUTCHours()) +
    two(date.getUTCMinutes()) +
    two(date.getUTCSeconds()) +
    'Z';
  return year < 2050
    ? tlv(UTC_TIME, Buffer.from(two(year % 100) + rest, 'latin1'))
    : tlv(GENERALIZED_TIME, Buffer.from(String(year).padStart(4, '0') + rest, 'latin1'));
}

/** DER INTEGER of a positive serial given as hex (a leading zero octet if the top bit is set). */
function serialInteger(hex: string): Buffer {
  let bytes = Buffer.from(hex.length % 2 === 1 ? `0${hex}` : hex, 'hex');
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0 && bytes[i + 1]! < 0x80) i++;
  bytes = bytes.subarray(i);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if (bytes[0]! >= 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(INTEGER, bytes);
}

/** What {@link buildLeaf} needs: the subject's key as DER SubjectPublicKeyInfo. */
export interface FastLeafParams {
  spkiDer: Uint8Array;
  commonName: string;
  validityDays: number;
  profile: LeafProfile;
  serial: string;
  now: Date;
  clockSkewMs: number;
  extraExtensions: x509.Extension[];
}

/** The result of {@link buildLeaf}. */
export interface BuiltLeaf {
  der: Buffer;
  notBefore: Date;
  notAfter: Date;
}

/** Whole seconds, as the certificate encodes them (UTCTime/GeneralizedTime). */
function toSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

/**
 * Builds and signs a leaf certificate, or returns undefined when `ca` is not a P-256 CA (the
 * caller then uses the generator). The extensions are those of `signLeaf`, in its order.
 */
export async function buildLeaf(
  ca: CertificateAuthority,
  p: FastLeafParams,
): Promise<BuiltLeaf | undefined> {
  const cache = await caCache(ca);
  if (cache === undefined) return undefined;
  const spki = Buffer.from(p.spkiDer.buffer, p.spkiDer.byteOffset, p.spkiDer.byteLength);
  // RFC 5280 method 1: SHA-1 of the subjectPublicKey bits (what SubjectKeyIdentifierExtension
  // .create computes).
  const keyId = createHash('sha1').update(subjectPublicKeyBits(spki)).digest();
  const ski = tlv(SEQUENCE, OID_SKI_DER, tlv(OCTET_STRING, tlv(OCTET_STRING, keyId)));
  const notBefore = toSeconds(p.now.getTime() - p.clockSkewMs);
  const notAfter = toSeconds(p.now.getTime() + p.validityDays * DAY_MS);
  const subject = tlv(
    SEQUENCE,
    tlv(SET, tlv(SEQUENCE, OID_COMMON_NAME_DER, directoryString(p.commonName))),
  );
  const tbs = tlv(
    SEQUENCE,
    VERSION_V3,
    serialInteger(p.serial),
    cache.algorithmAndIssuer,
    tlv(SEQUENCE, time(notBefore), time(notAfter)),
    subject,
    spki,
    tlv(
      EXTENSIONS_TAG,
      tlv(
        SEQUENCE,
        fixedExtensions(cache, p.profile),
        ski,
        cache.authorityKeyId,
        ...p.extraExtensions.map((e) => Buffer.from(e.rawData)),
      ),
    ),
  );
  // DER-encoded ECDSA-Sig-Value: exactly what the certificate's signatureValue holds.
  const signature = nodeSign('sha256', tbs, { key: cache.signingKey, dsaEncoding: 'der' });
  const der = tlv(SEQUENCE, tbs, cache.algorithm, tlv(BIT_STRING, Buffer.from([0]), signature));
  return { der, notBefore, notAfter };
}
