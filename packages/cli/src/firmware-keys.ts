import {
  type KeyObject,
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The signature algorithm of Drover firmware (API.md: `signature_alg`). */
export const FIRMWARE_SIGNATURE_ALG = 'ed25519';

/** Where the development firmware signing key lives (scripts/lib/dev-keys.mjs, same format). */
export interface FirmwareKeyPaths {
  /** `.drover/dev`. */
  dir: string;
  /** The ed25519 private key, PKCS#8 PEM, mode 0600. */
  privatePem: string;
  /** `{"<key_id>": "<SPKI PEM>"}`, the development trusted key ring of the orchestrator. */
  trustedKeys: string;
}

export function firmwareKeyPaths(root: string): FirmwareKeyPaths {
  const dir = join(root, '.drover', 'dev');
  return {
    dir,
    privatePem: join(dir, 'firmware-signing-key.pem'),
    trustedKeys: join(dir, 'firmware-trusted-keys.json'),
  };
}

/** The key id of an ed25519 key: the RFC 7638 thumbprint of its public OKP JWK. */
export function firmwareKeyId(key: KeyObject): string {
  const { crv, kty, x } = createPublicKey(key).export({ format: 'jwk' });
  return createHash('sha256').update(JSON.stringify({ crv, kty, x })).digest('base64url');
}

/** Parses a PEM private key and checks it is ed25519. */
export function parseFirmwareKey(pem: string, source: string): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (err) {
    throw new Error(`${source} is not a PEM private key: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new Error(`${source} is a ${key.asymmetricKeyType ?? 'unknown'} key, not ed25519`);
  }
  return key;
}

/**
 * Reads the development firmware signing key, creating it (and the trusted key file) first when
 * it does not exist yet, so `drover firmware sign` works before `npm start`.
 */
export function loadOrCreateFirmwareKey(paths: FirmwareKeyPaths): {
  key: KeyObject;
  created: boolean;
} {
  let created = false;
  if (!existsSync(paths.privatePem)) {
    mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
    const pem = generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' });
    try {
      // 'wx': if npm start wrote a key at the same moment, keep theirs.
      writeFileSync(paths.privatePem, pem, { mode: 0o600, flag: 'wx' });
      created = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  const key = parseFirmwareKey(readFileSync(paths.privatePem, 'utf8'), paths.privatePem);
  if (created || !existsSync(paths.trustedKeys)) {
    const publicPem = createPublicKey(key).export({ format: 'pem', type: 'spki' });
    writeFileSync(
      paths.trustedKeys,
      `${JSON.stringify({ [firmwareKeyId(key)]: publicPem }, null, 2)}\n`,
    );
  }
  return { key, created };
}

/** What `drover firmware sign` prints and `POST /api/v1/firmware` takes. */
export interface FirmwareSignature {
  /** Base64 of the 64-byte ed25519 signature over the raw image bytes. */
  signature: string;
  /** Always `ed25519`. */
  signature_alg: typeof FIRMWARE_SIGNATURE_ALG;
  /** The signing key's id in the orchestrator's trusted key ring. */
  key_id: string;
  /** Lower-case hex SHA-256 of the image. */
  sha256: string;
  /** Image size in bytes. */
  size: number;
}

/** Signs a firmware image: ed25519 over the raw bytes, plus its SHA-256 and size. */
export function signFirmware(image: Buffer, key: KeyObject, keyId?: string): FirmwareSignature {
  return {
    signature: sign(null, image, key).toString('base64'),
    signature_alg: FIRMWARE_SIGNATURE_ALG,
    key_id: keyId ?? firmwareKeyId(key),
    sha256: createHash('sha256').update(image).digest('hex'),
    size: image.length,
  };
}
