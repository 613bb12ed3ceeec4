// The checks every image passes at registration and again before a deployment: declared size and
// SHA-256 against what was computed from the bytes, and the ed25519 signature over the image
// bytes (the raw image, not its digest: what `drover firmware sign` and devices do) by a key of
// the trusted key ring.
import { verify } from 'node:crypto';
import { type KeyRing } from './firmware-keyring';
import { firmwareErrors } from './firmware-errors';

/** What the uploader declared. */
export interface DeclaredImage {
  sha256: string;
  size: number;
  signature: string;
  signature_alg: string;
  key_id: string;
}

/** What was computed from the bytes. */
export interface ComputedImage {
  sha256: string;
  size: number;
}

const SIGNATURE_BASE64 = /^[A-Za-z0-9+/]{86}==$/;

/** Throws firmware_size_mismatch or firmware_sha256_mismatch when the bytes are not the ones declared. */
export function checkDigest(
  declared: Pick<DeclaredImage, 'sha256' | 'size'>,
  computed: ComputedImage,
): void {
  if (computed.size !== declared.size)
    throw firmwareErrors.sizeMismatch(declared.size, computed.size);
  if (computed.sha256 !== declared.sha256.toLowerCase()) {
    throw firmwareErrors.sha256Mismatch(declared.sha256, computed.sha256);
  }
}

/** Throws firmware_unknown_key unless the key id is in the ring; the key otherwise. */
export function trustedKey(ring: KeyRing, keyId: string) {
  const key = ring.get(keyId);
  if (key === undefined) throw firmwareErrors.unknownKey(keyId);
  return key;
}

/** The 64 signature bytes, or firmware_bad_signature when it is not an ed25519 signature. */
export function decodeSignature(
  declared: Pick<DeclaredImage, 'signature' | 'signature_alg'>,
): Buffer {
  if (declared.signature_alg !== 'ed25519') {
    throw firmwareErrors.badSignature(
      `signature_alg ${declared.signature_alg} is not supported (ed25519)`,
    );
  }
  if (!SIGNATURE_BASE64.test(declared.signature)) {
    throw firmwareErrors.badSignature('the signature is not the base64 of 64 bytes');
  }
  return Buffer.from(declared.signature, 'base64');
}

/**
 * Verifies the declared signature over `image` with the declared trusted key: throws
 * firmware_unknown_key or firmware_bad_signature.
 */
export function checkSignature(ring: KeyRing, declared: DeclaredImage, image: Uint8Array): void {
  const key = trustedKey(ring, declared.key_id);
  const signature = decodeSignature(declared);
  if (!verify(null, image, key, signature)) {
    throw firmwareErrors.badSignature(
      `the ed25519 signature does not verify over the image with key ${declared.key_id}`,
    );
  }
}

/** Every check of a declared image against its bytes (digest first: it names the likelier fault). */
export function checkImage(
  ring: KeyRing,
  declared: DeclaredImage,
  computed: ComputedImage,
  image: Uint8Array,
): void {
  checkDigest(declared, computed);
  checkSignature(ring, declared, image);
}
