// Chain verification: used by the provisioning service (renewals, imported bootstrap CAs) and
// the tests. The broker does its own verification in OpenSSL.
import { x509 } from './crypto';

/** Result of {@link verifyCertificateChain}. */
export type ChainVerification =
  | {
      /** The certificate chains to a trust anchor. */
      ok: true;
      /** Leaf first, trust anchor last. */
      chain: x509.X509Certificate[];
    }
  | {
      /** Refused. */
      ok: false;
      /** `unparseable`, `no_path`, `untrusted_root`, `bad_signature`, `expired`, `not_yet_valid`,
       * `issuer_not_ca` or `path_length`. */
      reason: string;
    };

function parse(pem: string): x509.X509Certificate | null {
  try {
    return new x509.X509Certificate(pem);
  } catch {
    // Malformed input is an answer (`unparseable`), not an exception.
    return null;
  }
}

/**
 * Verifies `certPem` against `chainPems` (intermediates and the self-signed root that is the
 * trust anchor): signatures, validity at `now`, CA flags and path lengths.
 */
export async function verifyCertificateChain(
  certPem: string,
  chainPems: string[],
  opts: { now?: Date } = {},
): Promise<ChainVerification> {
  const now = opts.now ?? new Date();
  const leaf = parse(certPem);
  const pool = chainPems.map(parse);
  if (!leaf || pool.some((c) => c === null)) return { ok: false, reason: 'unparseable' };
  const anchors = pool as x509.X509Certificate[];
  let chain: x509.X509Certificate[];
  try {
    chain = [...(await new x509.X509ChainBuilder({ certificates: anchors }).build(leaf))];
  } catch {
    // The builder throws when no issuer is found; that is the answer.
    return { ok: false, reason: 'no_path' };
  }
  const root = chain[chain.length - 1]!;
  const rootTrusted = anchors.some((a) => a.equal(root));
  if (chain.length < 2) return { ok: false, reason: 'no_path' };
  if (!rootTrusted || !(await root.isSelfSigned())) {
    return { ok: false, reason: 'untrusted_root' };
  }
  for (let i = 0; i < chain.length; i++) {
    const cert = chain[i]!;
    if (now < cert.notBefore) return { ok: false, reason: 'not_yet_valid' };
    if (now > cert.notAfter) return { ok: false, reason: 'expired' };
    const issuer = chain[i + 1] ?? cert;
    const signed = await cert.verify({ publicKey: issuer.publicKey, signatureOnly: true });
    if (!signed) return { ok: false, reason: 'bad_signature' };
    if (i === 0) continue;
    const bc = cert.getExtension(x509.BasicConstraintsExtension);
    if (!bc?.ca) return { ok: false, reason: 'issuer_not_ca' };
    // CAs below this one (excluding the leaf) must not exceed its pathLen.
    if (bc.pathLength !== undefined && i - 1 > bc.pathLength) {
      return { ok: false, reason: 'path_length' };
    }
  }
  return { ok: true, chain };
}
