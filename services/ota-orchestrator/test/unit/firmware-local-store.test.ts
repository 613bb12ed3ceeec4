// The local artifact store: atomic put by rename, ranges, missing objects, stale staging files.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LocalArtifactStore } from '../../src/adapters/artifacts/local-artifact.store';

async function text(body: NodeJS.ReadableStream): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('LocalArtifactStore', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'drover-local-store-'));
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('renames a staged file into place and reads it whole or by range', async () => {
    const store = await new LocalArtifactStore(root).init();
    const staged = join(store.stagingDir, 'x.part');
    await writeFile(staged, '0123456789');
    await store.put('acme/01F.bin', staged, { size: 10, sha256: 'x'.repeat(64) });
    expect(existsSync(staged)).toBe(false);
    const whole = await store.open('acme/01F.bin');
    expect(whole!.size).toBe(10);
    expect(await text(whole!.body)).toBe('0123456789');
    const part = await store.open('acme/01F.bin', { start: 2, end: 4 });
    expect(await text(part!.body)).toBe('234');
    await store.delete('acme/01F.bin');
    expect(await store.open('acme/01F.bin')).toBeNull();
    await expect(store.delete('acme/01F.bin')).resolves.toBeUndefined();
  });

  it('refuses keys that leave the store', () => {
    const store = new LocalArtifactStore(root);
    expect(() => store.pathOf('../../etc/passwd')).toThrow(/leaves the store/);
  });

  it('removes stale staging files at start and keeps fresh ones', async () => {
    const store = await new LocalArtifactStore(root).init();
    const stale = join(store.stagingDir, 'stale.part');
    const fresh = join(store.stagingDir, 'fresh.part');
    await writeFile(stale, 'a');
    await writeFile(fresh, 'b');
    const old = new Date(Date.now() - 2 * 3_600_000);
    await utimes(stale, old, old);
    await new LocalArtifactStore(root).init();
    expect((await readdir(store.stagingDir)).sort()).toEqual(['fresh.part']);
  });
});
