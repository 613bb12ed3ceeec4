// The default artifact store: a directory (FIRMWARE_ARTIFACT_DIR). Uploads are staged in
// `<dir>/.staging/` on the same filesystem and renamed into `<dir>/objects/<key>` once checked:
// a rename is atomic, so a reader sees the whole image or none, never a partial file.
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import {
  type ArtifactBody,
  type ArtifactMeta,
  type ArtifactRange,
  type ArtifactStore,
} from './artifact-store';

async function fsyncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** A store in `root`. */
export class LocalArtifactStore implements ArtifactStore {
  readonly kind = 'local' as const;
  readonly stagingDir: string;
  private readonly objects: string;

  constructor(root: string) {
    const base = resolve(root);
    this.stagingDir = join(base, '.staging');
    this.objects = join(base, 'objects');
  }

  /**
   * Creates the directories and removes staging files a crash left behind (older than
   * `staleMs`: a replica sharing the directory may be staging right now). Call once before use.
   */
  async init(staleMs = 3_600_000): Promise<this> {
    await mkdir(this.stagingDir, { recursive: true, mode: 0o700 });
    await mkdir(this.objects, { recursive: true });
    const now = Date.now();
    for (const name of await readdir(this.stagingDir)) {
      const path = join(this.stagingDir, name);
      const st = await stat(path).catch(() => null);
      if (st !== null && now - st.mtimeMs > staleMs) await rm(path, { force: true });
    }
    return this;
  }

  /** The file of a key. */
  pathOf(key: string): string {
    const path = resolve(this.objects, key);
    if (!path.startsWith(`${this.objects}/`)) throw new Error(`key ${key} leaves the store`);
    return path;
  }

  async put(key: string, stagedPath: string, _meta: ArtifactMeta): Promise<void> {
    const target = this.pathOf(key);
    await mkdir(dirname(target), { recursive: true });
    await rename(stagedPath, target);
    await fsyncDir(dirname(target));
  }

  async open(key: string, range?: ArtifactRange): Promise<ArtifactBody | null> {
    const path = this.pathOf(key);
    let size: number;
    try {
      size = (await stat(path)).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    const body = createReadStream(path, range ?? {});
    return { body, size };
  }

  async delete(key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true });
  }
}
