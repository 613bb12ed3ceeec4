// The trusted key ring: key id → ed25519 public key. Text forms accepted (FIRMWARE_TRUSTED_KEYS
// or the file it names):
//   - a JSON object {"<key id>": "<key>", ...} (what `npm start` writes to
//     .drover/dev/firmware-trusted-keys.json);
//   - a list `<key id>=<key>` or `<key id>:<key>` separated by `;` or new lines.
// A key is an SPKI PEM, base64 of the DER SPKI, or base64/base64url of the raw 32-byte key.
import { type KeyObject, createPublicKey } from 'node:crypto';

/** Key ids as the contract allows them. */
export const KEY_ID_PATTERN = /^[A-Za-z0-9_.:-]{1,128}$/;

/** An immutable key ring. */
export type KeyRing = ReadonlyMap<string, KeyObject>;

/** Thrown for a key ring text that cannot be read (a configuration error, fatal at start). */
export class KeyRingError extends Error {}

// DER prefix of an ed25519 SubjectPublicKeyInfo (RFC 8410): SEQ, SEQ{OID 1.3.101.112}, BIT STRING.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

/** Parses one public key in any accepted form; it must be ed25519. */
export function parsePublicKey(text: string): KeyObject {
  const value = text.trim();
  let key: KeyObject;
  try {
    if (value.startsWith('-----BEGIN')) {
      key = createPublicKey(value);
    } else {
      // Node's base64 decoder reads the base64url alphabet as well.
      const der = Buffer.from(value, 'base64');
      const spki = der.length === 32 ? Buffer.concat([ED25519_SPKI_PREFIX, der]) : der;
      key = createPublicKey({ key: spki, format: 'der', type: 'spki' });
    }
  } catch (err) {
    throw new KeyRingError(`not a public key (PEM, base64 SPKI or raw): ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new KeyRingError(`a ${String(key.asymmetricKeyType)} key, not ed25519`);
  }
  return key;
}

function entries(text: string): [string, string][] {
  const trimmed = text.trim();
  if (trimmed.startsWith('{')) {
    // Text that starts with `{` and parses is a JSON object.
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(trimmed) as Record<string, unknown>;
    } catch (err) {
      throw new KeyRingError(`the key ring is not valid JSON: ${(err as Error).message}`);
    }
    return Object.entries(parsed).map(([id, key]) => {
      if (typeof key !== 'string') throw new KeyRingError(`key ${id}: the key must be a string`);
      return [id, key];
    });
  }
  return trimmed
    .split(/[;\n]/)
    .map((part) => part.trim())
    .filter((part) => part !== '')
    .map((part) => {
      const at = part.search(/[=:]/);
      if (at <= 0) throw new KeyRingError(`"${part.slice(0, 40)}" is not <key id>=<key>`);
      return [part.slice(0, at).trim(), part.slice(at + 1)];
    });
}

/** Parses a key ring text; an empty text is an empty ring. */
export function parseKeyRing(text: string): KeyRing {
  const ring = new Map<string, KeyObject>();
  for (const [id, keyText] of entries(text)) {
    if (!KEY_ID_PATTERN.test(id)) throw new KeyRingError(`"${id}" is not a valid key id`);
    if (ring.has(id)) throw new KeyRingError(`key id ${id} is given twice`);
    try {
      ring.set(id, parsePublicKey(keyText));
    } catch (err) {
      throw new KeyRingError(`key ${id}: ${(err as Error).message}`);
    }
  }
  return ring;
}
