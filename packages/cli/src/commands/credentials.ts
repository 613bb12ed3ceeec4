// Writing certificates and keys to disk for `drover provision --out` and `drover dev
// bootstrap-cert`: keys are created 0600 (never readable by others, not even briefly).
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { CliError } from '../errors';

/** One file to write: its name in the directory, its content, and whether it is a secret. */
export interface CredentialFile {
  /** File name (no directories). */
  name: string;
  /** PEM text. */
  content: string;
  /** A private key: mode 0600. */
  secret?: boolean;
}

/** A file name from an id: ids are [A-Za-z0-9_-], so nothing can climb out of the directory. */
export function safeFileStem(id: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) throw new CliError(`"${id}" is not a valid id`);
  return id;
}

/** Writes `files` below `dir` (created if missing); returns the absolute paths written. */
export function writeCredentials(cwd: string, dir: string, files: CredentialFile[]): string[] {
  const out = resolve(cwd, dir);
  mkdirSync(out, { recursive: true });
  return files.map((f) => {
    const path = join(out, f.name);
    writeFileSync(path, f.content, { mode: f.secret ? 0o600 : 0o644 });
    // An existing file keeps its old mode on rewrite: set it explicitly.
    if (f.secret) chmodSync(path, 0o600);
    return path;
  });
}
