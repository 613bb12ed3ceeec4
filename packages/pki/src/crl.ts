// Certificate revocation lists signed by the fleet CA; the broker loads them (crlfile).
import { AsnConvert } from '@peculiar/asn1-schema';
import {
  CRLNumber,
  DistributionPointName,
  GeneralName,
  id_ce_cRLNumber,
  id_ce_issuingDistributionPoint,
  IssuingDistributionPoint,
} from '@peculiar/asn1-x509';
import { type CertificateAuthority } from './ca';
import { ECDSA_SHA256, normalizeSerial, x509 } from './crypto';

/** RFC 5280 reason names accepted by {@link createCrl}. */
export type RevocationReason =
  | 'unspecified'
  | 'keyCompromise'
  | 'affiliationChanged'
  | 'superseded'
  | 'cessationOfOperation'
  | 'privilegeWithdrawn';

/** One revoked certificate. */
export interface RevokedEntry {
  /** Serial (hex) as returned when the certificate was issued. */
  serial: string;
  /** When it was revoked. */
  revokedAt: Date;
  /** Optional reason code. */
  reason?: RevocationReason;
}

/** CRL timing and numbering. */
export interface CrlOptions {
  /** Issue time. */
  thisUpdate: Date;
  /** When relying parties must fetch a new CRL (OpenSSL rejects a CRL after it). */
  nextUpdate: Date;
  /** Monotonic CRL number (RFC 5280 requires it; each regeneration increments it). */
  crlNumber: number;
  /**
   * The URL this CRL is served at, written as a critical Issuing Distribution Point (EMQX
   * enforces only CRLs that carry one). Leave it out for Mosquitto's crlfile: OpenSSL then
   * requires a matching distribution point in every certificate.
   */
  distributionUrl?: string;
}

function issuingDistributionPoint(url: string): x509.Extension {
  const idp = new IssuingDistributionPoint({
    distributionPoint: new DistributionPointName({
      fullName: [new GeneralName({ uniformResourceIdentifier: url })],
    }),
    onlyContainsUserCerts: true,
  });
  return new x509.Extension(id_ce_issuingDistributionPoint, true, AsnConvert.serialize(idp));
}

/** Creates a CRL (PEM labelled `X509 CRL`) listing `revoked`, signed by `ca`. */
export async function createCrl(
  ca: CertificateAuthority,
  revoked: RevokedEntry[],
  opts: CrlOptions,
): Promise<string> {
  if (!Number.isSafeInteger(opts.crlNumber) || opts.crlNumber < 0) {
    throw new RangeError(`crlNumber must be a non-negative integer, got ${opts.crlNumber}`);
  }
  if (opts.nextUpdate <= opts.thisUpdate) throw new RangeError('nextUpdate must follow thisUpdate');
  const crl = await x509.X509CrlGenerator.create({
    issuer: ca.certificate.subject,
    thisUpdate: opts.thisUpdate,
    nextUpdate: opts.nextUpdate,
    signingAlgorithm: ECDSA_SHA256,
    signingKey: ca.privateKey,
    extensions: [
      new x509.Extension(
        id_ce_cRLNumber,
        false,
        AsnConvert.serialize(new CRLNumber(opts.crlNumber)),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(ca.certificate.publicKey),
      ...(opts.distributionUrl ? [issuingDistributionPoint(opts.distributionUrl)] : []),
    ],
    entries: revoked.map((r) => ({
      serialNumber: normalizeSerial(r.serial),
      revocationDate: r.revokedAt,
      ...(r.reason ? { reason: x509.X509CrlReason[r.reason] } : {}),
    })),
  });
  // OpenSSL (and so Mosquitto's crlfile) only reads the `X509 CRL` PEM label.
  return x509.PemConverter.encode(crl.rawData, 'X509 CRL');
}

/** Serials (normalized hex) listed in a CRL. */
export function crlSerials(crlPem: string): string[] {
  return new x509.X509Crl(crlPem).entries.map((e) => normalizeSerial(e.serialNumber));
}
