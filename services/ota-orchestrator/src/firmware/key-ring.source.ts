// Where the trusted key ring comes from: FIRMWARE_TRUSTED_KEYS holds it inline (a JSON object
// or `id=key;...`) or names a file with it. A file is read again when it changes, so a key is
// added or withdrawn without a restart, and `reverify` sees a withdrawn key at once. Unset: the
// development key ring `npm start` writes (.drover/dev/firmware-trusted-keys.json under the
// working directory) if it exists, else an empty ring (every registration is refused).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { type KeyRing, KeyRingError, parseKeyRing } from '../domain/firmware-keyring';

/** The development key ring file, relative to the working directory. */
export const DEV_TRUSTED_KEYS_FILE = '.drover/dev/firmware-trusted-keys.json';

/** Gives the current key ring. */
export interface KeyRingSource {
  /** The ring now (a file is re-read when its mtime or size changed). */
  current(): KeyRing;
  /** Where it comes from, for logs: `inline`, a file path, or `none`. */
  readonly origin: string;
}

/** A key ring source for the FIRMWARE_TRUSTED_KEYS value (throws KeyRingError when unreadable). */
export function keyRingSource(value: string | undefined, cwd = process.cwd()): KeyRingSource {
  const given = value?.trim() ?? '';
  const path = resolve(cwd, given === '' ? DEV_TRUSTED_KEYS_FILE : given);
  if (!existsSync(path)) {
    if (given === '') {
      const empty: KeyRing = new Map();
      return { current: () => empty, origin: 'none' };
    }
    // Not a file: the ring itself (a JSON object, or `id=key;...`).
    if (!given.startsWith('{') && !/^[A-Za-z0-9_.:-]+?\s*[=:]/.test(given)) {
      throw new KeyRingError(`FIRMWARE_TRUSTED_KEYS: no file ${path}, and not a key ring`);
    }
    const ring = parseKeyRing(given);
    return { current: () => ring, origin: 'inline' };
  }
  let stamp = '';
  let ring: KeyRing = new Map();
  const load = (): KeyRing => {
    const st = statSync(path);
    const next = `${st.mtimeMs}:${st.size}`;
    if (next !== stamp) {
      ring = parseKeyRing(readFileSync(path, 'utf8'));
      stamp = next;
    }
    return ring;
  };
  load();
  return { current: load, origin: path };
}
