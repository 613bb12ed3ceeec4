// Optional Sigstore verification of an image (FIRMWARE_SIGSTORE_TRUSTED_ROOT = a trusted_root.json
// file, as `cosign`/sigstore-js use it). Verification is offline: the trusted root is read from
// the file, never fetched through TUF, and the bundle must carry its transparency-log proof.
// The signer identity is checked when FIRMWARE_SIGSTORE_IDENTITY is set (exact SAN, or /regex/).
import { readFileSync } from 'node:fs';
import { type SerializedBundle, bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import {
  type VerificationPolicy,
  Verifier,
  toSignedEntity,
  toTrustMaterial,
} from '@sigstore/verify';
import { firmwareErrors } from '../domain/firmware-errors';

/** Verifies a Sigstore bundle over image bytes; throws firmware_bad_sigstore_bundle. */
export interface SigstoreVerifier {
  verify(bundle: unknown, image: Buffer): void;
}

/** Options of {@link createSigstoreVerifier}. */
export interface SigstoreOptions {
  /** Path of the trusted root JSON. */
  trustedRootPath: string;
  /** Expected signer identity: exact subject alternative name, or `/regex/`. */
  identity?: string;
  /** Minimum transparency-log entries (default 1). */
  tlogThreshold?: number;
  /** Minimum timestamps (default 1). */
  timestampThreshold?: number;
  /** Minimum certificate-transparency entries (default 1). */
  ctlogThreshold?: number;
}

function identityPolicy(identity: string | undefined): VerificationPolicy {
  if (identity === undefined || identity === '') return {};
  const m = /^\/(.+)\/$/.exec(identity);
  return { subjectAlternativeName: m !== null ? new RegExp(m[1]!) : identity };
}

/** Builds a verifier from the configured trusted root (throws at start when it is unreadable). */
export function createSigstoreVerifier(opts: SigstoreOptions): SigstoreVerifier {
  const root = TrustedRoot.fromJSON(JSON.parse(readFileSync(opts.trustedRootPath, 'utf8')));
  const verifier = new Verifier(toTrustMaterial(root), {
    tlogThreshold: opts.tlogThreshold ?? 1,
    timestampThreshold: opts.timestampThreshold ?? 1,
    ctlogThreshold: opts.ctlogThreshold ?? 1,
  });
  const policy = identityPolicy(opts.identity);
  return {
    verify(bundle, image) {
      try {
        const parsed = bundleFromJSON(bundle as SerializedBundle);
        verifier.verify(toSignedEntity(parsed, image), policy);
      } catch (err) {
        throw firmwareErrors.badSigstoreBundle((err as Error).message);
      }
    },
  };
}
