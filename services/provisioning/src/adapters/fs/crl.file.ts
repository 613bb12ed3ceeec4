// Writes the CRL where the broker reads it (`crlfile`): a temp file renamed over the old one,
// so the broker never reads half a CRL.
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/** A writer for one CRL path. */
export function crlFileWriter(path: string): (pem: string) => Promise<void> {
  return async (pem) => {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${Date.now()}.tmp`;
    await writeFile(tmp, pem, { mode: 0o644 });
    await rename(tmp, path);
  };
}
