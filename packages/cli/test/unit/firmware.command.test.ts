import { createHash, createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureFirmwareDevKey } from '../../../../scripts/lib/dev-keys.mjs';
import { firmwareKeyId, firmwareKeyPaths } from '../../src/firmware-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

describe('drover firmware sign', () => {
  const repo = tempRepo();
  const image = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7) % 256));
  mkdirSync(join(repo.root, 'sub'));
  writeFileSync(join(repo.root, 'sub', 'fw.bin'), image);
  afterAll(() => repo.remove());

  async function sign(args: string[]): Promise<{ code: number; out: string; err: string }> {
    const io = captureIo(join(repo.root, 'sub'));
    const code = await run(['firmware', 'sign', ...args], io);
    return { code, out: io.out(), err: io.err() };
  }

  it('signs with the development key (created once) and the trusted key file verifies it', async () => {
    const first = await sign(['fw.bin', '--json']);
    expect(first.code).toBe(0);
    expect(first.err).toContain('created the development firmware signing key');
    const paths = firmwareKeyPaths(repo.root);
    expect(statSync(paths.privatePem).mode & 0o777).toBe(0o600);

    const sig = JSON.parse(first.out) as Record<string, unknown>;
    expect(Object.keys(sig).sort()).toEqual(
      ['key_id', 'sha256', 'signature', 'signature_alg', 'size'].sort(),
    );
    expect(sig).toMatchObject({
      signature_alg: 'ed25519',
      size: image.length,
      sha256: createHash('sha256').update(image).digest('hex'),
    });
    const trusted = JSON.parse(readFileSync(paths.trustedKeys, 'utf8')) as Record<string, string>;
    const publicPem = trusted[sig.key_id as string] ?? '';
    expect(publicPem).toContain('BEGIN PUBLIC KEY');
    const signature = Buffer.from(sig.signature as string, 'base64');
    expect(signature).toHaveLength(64);
    expect(verify(null, image, createPublicKey(publicPem), signature)).toBe(true);
    const tampered = Buffer.from(image);
    tampered.writeUInt8(image.readUInt8(0) ^ 1, 0);
    expect(verify(null, tampered, createPublicKey(publicPem), signature)).toBe(false);

    const again = await sign(['fw.bin', '--json']);
    expect(again.err).toBe('');
    expect(JSON.parse(again.out)).toEqual(sig); // ed25519 is deterministic, same key
  });

  it('npm start (scripts/lib) reuses the same key and names the same key id', async () => {
    const { out } = await sign(['fw.bin', '--json']);
    const keyId = (JSON.parse(out) as { key_id: string }).key_id;
    const fromStart = ensureFirmwareDevKey(repo.root);
    expect(fromStart.created).toBe(false);
    expect(fromStart.keyId).toBe(keyId);
    expect(JSON.parse(readFileSync(fromStart.paths.trustedKeys, 'utf8'))).toEqual({
      [keyId]: fromStart.publicPem,
    });
  });

  it('npm start creates a key the CLI then signs with', async () => {
    const other = tempRepo();
    try {
      const created = ensureFirmwareDevKey(other.root);
      expect(created.created).toBe(true);
      writeFileSync(join(other.root, 'a.bin'), image);
      const io = captureIo(other.root);
      expect(await run(['firmware', 'sign', 'a.bin', '--json'], io)).toBe(0);
      expect(io.err()).toBe('');
      const sig = JSON.parse(io.out()) as { key_id: string; signature: string };
      expect(sig.key_id).toBe(created.keyId);
      const pub = createPublicKey(created.publicPem);
      expect(verify(null, image, pub, Buffer.from(sig.signature, 'base64'))).toBe(true);
    } finally {
      other.remove();
    }
  });

  it('signs with --key and --key-id, and prints a table without --json', async () => {
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(
      join(repo.root, 'sub', 'release.pem'),
      privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    const withKey = await sign(['fw.bin', '--key', 'release.pem', '--json']);
    expect(withKey.code).toBe(0);
    const sig = JSON.parse(withKey.out) as { key_id: string; signature: string };
    expect(sig.key_id).toBe(firmwareKeyId(privateKey));
    expect(
      verify(null, image, createPublicKey(privateKey), Buffer.from(sig.signature, 'base64')),
    ).toBe(true);

    const named = await sign(['fw.bin', '--key', 'release.pem', '--key-id', 'release-2026']);
    expect(named.code).toBe(0);
    expect(named.out).toMatch(/key_id\s+│?\s*release-2026/);
    expect(named.out).toContain('ed25519');
  });

  it('refuses a non-ed25519 key, a missing key file, a missing or empty image', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(
      join(repo.root, 'sub', 'ec.pem'),
      privateKey.export({ format: 'pem', type: 'pkcs8' }),
    );
    writeFileSync(join(repo.root, 'sub', 'junk.pem'), 'not a key');
    writeFileSync(join(repo.root, 'sub', 'empty.bin'), '');

    const ec = await sign(['fw.bin', '--key', 'ec.pem']);
    expect(ec.code).toBe(1);
    expect(ec.err).toMatch(/ec key, not ed25519/);
    const junk = await sign(['fw.bin', '--key', 'junk.pem']);
    expect(junk.code).toBe(1);
    expect(junk.err).toMatch(/not a PEM private key/);
    const noKey = await sign(['fw.bin', '--key', 'nope.pem']);
    expect(noKey.code).toBe(1);
    expect(noKey.err).toMatch(/--key: cannot read/);
    const noFile = await sign(['missing.bin']);
    expect(noFile.code).toBe(1);
    expect(noFile.err).toMatch(/cannot read .*missing\.bin/);
    const empty = await sign(['empty.bin']);
    expect(empty.code).toBe(1);
    expect(empty.err).toMatch(/empty\.bin is empty/);
  });

  it('needs the repository for the development key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'drover-norepo-'));
    try {
      writeFileSync(join(dir, 'fw.bin'), image);
      const io = captureIo(dir);
      expect(await run(['firmware', 'sign', 'fw.bin'], io)).toBe(1);
      expect(io.err()).toMatch(/no Drover repository above/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
