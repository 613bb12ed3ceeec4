// The answer cipher (AES-256-GCM bound to the row) and where its key comes from.
import { randomBytes } from 'node:crypto';
import { EnvSecretStore, MemorySecretStore } from '@drover/pki';
import {
  createResultCipher,
  loadResultKey,
  parseResultKey,
  RESULT_KEY_SECRET,
} from '../../src/adapters/crypto/result-cipher';
import { openAnswer, sealAnswer } from '../../src/adapters/postgres/request-result.repository';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMG\n-----END PRIVATE KEY-----\n';

describe('result cipher', () => {
  const cipher = createResultCipher(randomBytes(32));

  it('round-trips and never leaves the plaintext in the sealed form', () => {
    const sealed = cipher.seal(PEM, 'prov:a:1');
    expect(JSON.stringify(sealed)).not.toContain('PRIVATE KEY');
    expect(sealed).toMatchObject({ alg: 'A256GCM', kid: cipher.kid });
    expect(cipher.open(sealed, 'prov:a:1')).toBe(PEM);
    // A fresh nonce each time: the same key sealed twice differs.
    expect(cipher.seal(PEM, 'prov:a:1').ct).not.toBe(sealed.ct);
  });

  it('refuses another row, another key, a tampered ciphertext or algorithm', () => {
    const sealed = cipher.seal(PEM, 'prov:a:1');
    expect(() => cipher.open(sealed, 'prov:a:2')).toThrow();
    expect(() => createResultCipher(randomBytes(32)).open(sealed, 'prov:a:1')).toThrow(
      'another key',
    );
    const ct = Buffer.from(sealed.ct, 'base64');
    ct[0] = ct[0]! ^ 1;
    expect(() => cipher.open({ ...sealed, ct: ct.toString('base64') }, 'prov:a:1')).toThrow();
    expect(() => cipher.open({ ...sealed, alg: 'none' as 'A256GCM' }, 'prov:a:1')).toThrow(
      'unsupported algorithm',
    );
    expect(() => createResultCipher(randomBytes(16))).toThrow('32 bytes');
  });

  it('seals only a private_key field of an answer, and opens it back', () => {
    const answer = { status: 'ok', device_id: 'd1', private_key: PEM };
    const stored = sealAnswer(answer, 'k', cipher) as Record<string, unknown>;
    expect(stored.private_key).toBeUndefined();
    expect(JSON.stringify(stored)).not.toContain('PRIVATE KEY');
    expect(openAnswer(stored, 'k', cipher)).toEqual(answer);
    const plain = { status: 'ok', device_id: 'd1' };
    expect(sealAnswer(plain, 'k', cipher)).toBe(plain);
    expect(openAnswer(plain, 'k', cipher)).toBe(plain);
    expect(sealAnswer(null, 'k', cipher)).toBeNull();
  });
});

describe('result key', () => {
  const hex = randomBytes(32).toString('hex');

  it('parses 64 hex digits or base64 of 32 bytes, nothing else', () => {
    expect(parseResultKey(hex, 'X').toString('hex')).toBe(hex);
    const b64 = Buffer.from(hex, 'hex').toString('base64');
    expect(parseResultKey(b64, 'X').toString('hex')).toBe(hex);
    expect(() => parseResultKey('short', 'X')).toThrow('X: expected a 256-bit key');
    expect(() => parseResultKey('not base64 !!', 'X')).toThrow('256-bit');
  });

  it('prefers the configured key, else creates one in the store and reuses it', async () => {
    const store = new MemorySecretStore();
    expect((await loadResultKey(hex, store)).toString('hex')).toBe(hex);
    expect(store.values.size).toBe(0);
    const created = await loadResultKey(undefined, store);
    expect(store.values.get(RESULT_KEY_SECRET)).toBe(created.toString('hex'));
    expect((await loadResultKey('', store)).equals(created)).toBe(true);
  });

  it('names the fix when a read-only store has no key', async () => {
    await expect(loadResultKey(undefined, new EnvSecretStore('T_', {}))).rejects.toThrow(
      'set PROVISIONING_RESULT_KEY',
    );
  });
});
