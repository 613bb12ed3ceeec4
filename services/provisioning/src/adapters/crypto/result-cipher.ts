// Encryption at rest of the secrets in stored answers (request_results): a server-generated
// private key is kept for 24 h so a retried provisioning request gets the same key back, and
// is stored only as AES-256-GCM ciphertext bound to its row (the request key is the AAD).
import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { ReadOnlySecretStoreError, type SecretStore } from '@drover/pki';

/** Name of the answer-encryption key in the PKI secret store. */
export const RESULT_KEY_SECRET = 'result-encryption-key';

const ALG = 'A256GCM';
const KEY_BYTES = 32;
const IV_BYTES = 12;

/** A sealed secret as stored in the JSON answer. */
export interface SealedSecret {
  /** Always `A256GCM`. */
  alg: typeof ALG;
  /** Key id: the first 16 hex digits of SHA-256 of the key (tells a rotated key apart). */
  kid: string;
  /** 96-bit nonce, base64. */
  iv: string;
  /** GCM tag, base64. */
  tag: string;
  /** Ciphertext, base64. */
  ct: string;
}

/** Seals and opens secrets with one key. */
export interface ResultCipher {
  /** Id of the key. */
  readonly kid: string;
  /** Encrypts `plaintext`, bound to `aad` (the row's request key). */
  seal(plaintext: string, aad: string): SealedSecret;
  /** Decrypts; throws when the key, the AAD or the ciphertext do not match. */
  open(sealed: SealedSecret, aad: string): string;
}

/** Parses a 32-byte key given as 64 hex digits or base64 (the env and secret-store forms). */
export function parseResultKey(text: string, source: string): Buffer {
  const t = text.trim();
  const hex = /^[0-9a-fA-F]{64}$/.test(t);
  const key = hex ? Buffer.from(t, 'hex') : Buffer.from(t, 'base64');
  if ((!hex && !/^[A-Za-z0-9+/]+={0,2}$/.test(t)) || key.length !== KEY_BYTES) {
    throw new Error(`${source}: expected a 256-bit key (64 hex digits or base64 of 32 bytes)`);
  }
  return key;
}

/** A cipher for `key` (32 bytes). */
export function createResultCipher(key: Buffer): ResultCipher {
  if (key.length !== KEY_BYTES) throw new Error('the result key must be 32 bytes');
  const secret = Buffer.from(key);
  const kid = createHash('sha256').update(secret).digest('hex').slice(0, 16);
  return {
    kid,
    seal(plaintext, aad) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', secret, iv);
      cipher.setAAD(Buffer.from(aad, 'utf8'));
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return {
        alg: ALG,
        kid,
        iv: iv.toString('base64'),
        tag: cipher.getAuthTag().toString('base64'),
        ct: ct.toString('base64'),
      };
    },
    open(sealed, aad) {
      if (sealed.alg !== ALG) throw new Error(`unsupported algorithm ${String(sealed.alg)}`);
      if (sealed.kid !== kid) throw new Error(`sealed with another key (${sealed.kid})`);
      const decipher = createDecipheriv('aes-256-gcm', secret, Buffer.from(sealed.iv, 'base64'));
      decipher.setAAD(Buffer.from(aad, 'utf8'));
      decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'));
      const pt = Buffer.concat([
        decipher.update(Buffer.from(sealed.ct, 'base64')),
        decipher.final(),
      ]);
      return pt.toString('utf8');
    },
  };
}

/**
 * The answer-encryption key: `configured` (PROVISIONING_RESULT_KEY) if set, else the secret
 * store's `result-encryption-key`, created (random, 0600 in a file store) on first start.
 * A read-only store without it is a configuration error naming both ways to fix it.
 */
export async function loadResultKey(
  configured: string | undefined,
  store: SecretStore,
): Promise<Buffer> {
  if (configured !== undefined && configured !== '') {
    return parseResultKey(configured, 'PROVISIONING_RESULT_KEY');
  }
  const stored = await store.get(RESULT_KEY_SECRET);
  if (stored !== undefined)
    return parseResultKey(stored, `${store.description}:${RESULT_KEY_SECRET}`);
  const key = randomBytes(KEY_BYTES);
  try {
    await store.put(RESULT_KEY_SECRET, key.toString('hex'));
  } catch (err) {
    if (err instanceof ReadOnlySecretStoreError) {
      throw new Error(
        `no answer-encryption key: set PROVISIONING_RESULT_KEY (64 hex digits) or ` +
          `${RESULT_KEY_SECRET} in ${store.description}`,
      );
    }
    throw err;
  }
  // Two replicas starting at once: the store keeps one value; use whatever it holds now.
  const winner = await store.get(RESULT_KEY_SECRET);
  return winner === undefined
    ? key
    : parseResultKey(winner, `${store.description}:${RESULT_KEY_SECRET}`);
}
