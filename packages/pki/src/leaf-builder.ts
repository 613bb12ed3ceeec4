// The fast path of leaf signing: the certificate is assembled from @peculiar/asn1-x509 objects
// and signed with node:crypto (one synchronous OpenSSL call) instead of going through
// X509CertificateGenerator, which exports the CA's public key for every authority key id,
// signs through WebCrypto's thread pool and parses the certificate it just encoded. What does
// not change between certificates of one CA (issuer name, extensions, the signing KeyObject)
// is prepared once per CA and kept as long as the CA object lives.
import { createHash, KeyObject, sign as nodeSign } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1X509 from '@peculiar/asn1-x509';
import { type CertificateAuthority, type LeafProfile } from './ca';
import { x509 } from './crypto';

const DAY_MS = 86_400_000;
/** ecdsa-with-SHA256 (RFC 5758): the only signature Drover's CAs make (P-256 keys). */
const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

interface CaCache {
  /** The CA object the entry was built for (a replaced key or certificate rebuilds it). */
  certificate: x509.X509Certificate;
  privateKey: CertificateAuthority['privateKey'];
  signingKey: KeyObject;
  /** The issuer name exactly as encoded in the CA certificate's subject. */
  issuer: asn1X509.Name;
  /** Extensions every leaf of a profile gets (all but the subject key id and CRL DP). */
  fixed: Map<LeafProfile, asn1X509.Extension[]>;
  authorityKeyId: asn1X509.Extension;
}

const caches = new WeakMap<CertificateAuthority, CaCache>();

function toAsnExtension(ext: x509.Extension): asn1X509.Extension {
  return AsnConvert.parse(ext.rawData, asn1X509.Extension);
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
  const entry: CaCache = {
    certificate: ca.certificate,
    privateKey: ca.privateKey,
    signingKey: KeyObject.from(ca.privateKey as Parameters<typeof KeyObject.from>[0]),
    issuer: parsed.tbsCertificate.subject,
    fixed: new Map(),
    authorityKeyId: toAsnExtension(
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
    ),
  };
  caches.set(ca, entry);
  return entry;
}

function fixedExtensions(cache: CaCache, profile: LeafProfile): asn1X509.Extension[] {
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
    ].map(toAsnExtension);
    cache.fixed.set(profile, exts);
  }
  return exts;
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
  const spki = AsnConvert.parse(p.spkiDer, asn1X509.SubjectPublicKeyInfo);
  // RFC 5280 method 1: SHA-1 of the subjectPublicKey bits (what SubjectKeyIdentifierExtension
  // .create computes).
  const keyId = createHash('sha1').update(new Uint8Array(spki.subjectPublicKey)).digest();
  const ski = new asn1X509.Extension({
    extnID: asn1X509.id_ce_subjectKeyIdentifier,
    critical: false,
    extnValue: new OctetString(AsnConvert.serialize(new asn1X509.SubjectKeyIdentifier(keyId))),
  });
  const notBefore = toSeconds(p.now.getTime() - p.clockSkewMs);
  const notAfter = toSeconds(p.now.getTime() + p.validityDays * DAY_MS);
  const subject = AsnConvert.parse(
    new x509.Name(`CN=${p.commonName}`).toArrayBuffer(),
    asn1X509.Name,
  );
  const algorithm = new asn1X509.AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 });
  const tbs = new asn1X509.TBSCertificate({
    version: asn1X509.Version.v3,
    serialNumber: new Uint8Array(Buffer.from(p.serial, 'hex')).buffer,
    signature: algorithm,
    issuer: cache.issuer,
    validity: new asn1X509.Validity({ notBefore, notAfter }),
    subject,
    subjectPublicKeyInfo: spki,
    extensions: new asn1X509.Extensions([
      ...fixedExtensions(cache, p.profile),
      ski,
      cache.authorityKeyId,
      ...p.extraExtensions.map(toAsnExtension),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  // DER-encoded ECDSA-Sig-Value: exactly what the certificate's signatureValue holds.
  const signature = nodeSign('sha256', tbsDer, { key: cache.signingKey, dsaEncoding: 'der' });
  const cert = new asn1X509.Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: new Uint8Array(signature).buffer,
  });
  return { der: Buffer.from(AsnConvert.serialize(cert)), notBefore, notAfter };
}
