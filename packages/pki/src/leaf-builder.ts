// The fast path of leaf signing. The certificate is assembled from asn1js nodes and signed with
// node:crypto (one synchronous OpenSSL call) instead of going through X509CertificateGenerator,
// which exports the CA's public key for every authority key id, maps every field through the
// @peculiar/asn1-schema layer, signs through WebCrypto's thread pool and parses the certificate
// it just encoded. The structure is RFC 5280's TBSCertificate with the fields and extensions
// signLeaf has always written (a unit test checks the encoding equals the generator's, byte for
// byte). What does not change between the certificates of one CA (issuer name, signature
// algorithm, fixed extensions, authority key id, the signing KeyObject) is decoded once per CA.
import { createHash, KeyObject, sign as nodeSign } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AsnConvert } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { type CertificateAuthority, type LeafProfile } from './ca';
import { x509 } from './crypto';

const DAY_MS = 86_400_000;
/** ecdsa-with-SHA256 (RFC 5758): the only signature Drover's CAs make (P-256 keys). */
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** id-at-commonName. */
const OID_COMMON_NAME = '2.5.4.3';

interface CaCache {
  /** The CA object the entry was built for (a replaced key or certificate rebuilds it). */
  certificate: x509.X509Certificate;
  privateKey: CertificateAuthority['privateKey'];
  signingKey: KeyObject;
  /** The issuer name exactly as encoded in the CA certificate's subject. */
  issuer: asn1js.AsnType;
  algorithm: asn1js.AsnType;
  /** Extensions every leaf of a profile gets (all but the subject key id and CRL DP). */
  fixed: Map<LeafProfile, asn1js.AsnType[]>;
  authorityKeyId: asn1js.AsnType;
}

const caches = new WeakMap<CertificateAuthority, CaCache>();

/** Decodes DER that this module or @peculiar/x509 encoded (so it is known to be well formed). */
function node(der: ArrayBuffer | Uint8Array): asn1js.AsnType {
  const { result, offset } = asn1js.fromBER(der);
  if (offset === -1) throw new Error(`cannot decode DER: ${result.error}`);
  return result;
}

function der(value: asn1js.AsnType): ArrayBuffer {
  return value.toBER(false);
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
  const entry: CaCache = {
    certificate: ca.certificate,
    privateKey: ca.privateKey,
    signingKey: KeyObject.from(ca.privateKey as Parameters<typeof KeyObject.from>[0]),
    issuer: node(AsnConvert.serialize(parsed.tbsCertificate.subject)),
    algorithm: node(
      AsnConvert.serialize(new asn1X509.AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 })),
    ),
    fixed: new Map(),
    authorityKeyId: node(aki.rawData),
  };
  caches.set(ca, entry);
  return entry;
}

function fixedExtensions(cache: CaCache, profile: LeafProfile): asn1js.AsnType[] {
  let exts = cache.fixed.get(profile);
  if (exts === undefined) {
    const eku =
      profile === 'server'
        ? [x509.ExtendedKeyUsage.serverAuth]
        : [x509.ExtendedKeyUsage.clientAuth];
    exts = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(eku, false),
    ].map((e) => node(e.rawData));
    cache.fixed.set(profile, exts);
  }
  return exts;
}

/** PrintableString when the value allows it, else UTF8String (as @peculiar/x509's Name does). */
function directoryString(value: string): asn1js.AsnType {
  return /^[A-Za-z0-9 '()+,\-./:=?]*$/.test(value)
    ? new asn1js.PrintableString({ value })
    : new asn1js.Utf8String({ value });
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function time(date: Date): asn1js.AsnType {
  return date.getUTCFullYear() < 2050
    ? new asn1js.UTCTime({ valueDate: date })
    : new asn1js.GeneralizedTime({ valueDate: date });
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
  const spki = node(p.spkiDer) as asn1js.Sequence;
  const subjectPublicKey = spki.valueBlock.value[1];
  if (!(subjectPublicKey instanceof asn1js.BitString)) {
    throw new TypeError('not a SubjectPublicKeyInfo');
  }
  // RFC 5280 method 1: SHA-1 of the subjectPublicKey bits (what SubjectKeyIdentifierExtension
  // .create computes).
  const keyId = createHash('sha1').update(subjectPublicKey.valueBlock.valueHexView).digest();
  const ski = new asn1js.Sequence({
    value: [
      new asn1js.ObjectIdentifier({ value: asn1X509.id_ce_subjectKeyIdentifier }),
      new asn1js.OctetString({ valueHex: der(new asn1js.OctetString({ valueHex: keyId })) }),
    ],
  });
  const notBefore = toSeconds(p.now.getTime() - p.clockSkewMs);
  const notAfter = toSeconds(p.now.getTime() + p.validityDays * DAY_MS);
  const subject = new asn1js.Sequence({
    value: [
      new asn1js.Set({
        value: [
          new asn1js.Sequence({
            value: [
              new asn1js.ObjectIdentifier({ value: OID_COMMON_NAME }),
              directoryString(p.commonName),
            ],
          }),
        ],
      }),
    ],
  });
  const tbs = new asn1js.Sequence({
    value: [
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 0 },
        value: [new asn1js.Integer({ value: 2 })],
      }),
      new asn1js.Integer({ valueHex: new Uint8Array(Buffer.from(p.serial, 'hex')) }),
      cache.algorithm,
      cache.issuer,
      new asn1js.Sequence({ value: [time(notBefore), time(notAfter)] }),
      subject,
      spki,
      new asn1js.Constructed({
        idBlock: { tagClass: 3, tagNumber: 3 },
        value: [
          new asn1js.Sequence({
            value: [
              ...fixedExtensions(cache, p.profile),
              ski,
              cache.authorityKeyId,
              ...p.extraExtensions.map((e) => node(e.rawData)),
            ],
          }),
        ],
      }),
    ],
  });
  const tbsDer = Buffer.from(der(tbs));
  // DER-encoded ECDSA-Sig-Value: exactly what the certificate's signatureValue holds.
  const signature = nodeSign('sha256', tbsDer, { key: cache.signingKey, dsaEncoding: 'der' });
  const cert = new asn1js.Sequence({
    value: [tbs, cache.algorithm, new asn1js.BitString({ valueHex: new Uint8Array(signature) })],
  });
  return { der: Buffer.from(der(cert)), notBefore, notAfter };
}
