// Where CA keys live. Files by default; environment for read-only deployments (Kubernetes
// secrets); Vault KV v2 in vault-kv-store.ts.
import { constants } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/** A named-secret store (values are strings: PEM keys and certificates, small JSON). */
export interface SecretStore {
  /** Short description for logs (`file:/path`, `env:PREFIX`, `vault:mount/path`). */
  readonly description: string;
  /** The secret's value, or undefined when it does not exist. */
  get(name: string): Promise<string | undefined>;
  /** Creates or replaces a secret. Read-only stores throw `ReadOnlySecretStoreError`. */
  put(name: string, value: string): Promise<void>;
}

/** Secret names double as file names and env suffixes: no path separators, no dots first. */
export const SECRET_NAME = /^[a-z0-9][a-z0-9_-]{0,127}$/;

/** A write to a read-only store. */
export class ReadOnlySecretStoreError extends Error {
  constructor(store: string) {
    super(`secret store ${store} is read-only`);
    this.name = 'ReadOnlySecretStoreError';
  }
}

/** A secret file readable by group or others: refused rather than used. */
export class InsecureSecretError extends Error {
  constructor(file: string, mode: number) {
    super(`${file} has mode ${(mode & 0o777).toString(8)}; secret files must be 0600`);
    this.name = 'InsecureSecretError';
  }
}

function checkName(name: string): void {
  if (!SECRET_NAME.test(name)) throw new Error(`invalid secret name ${JSON.stringify(name)}`);
}

/** Files `<dir>/<name>`, mode 0600, in a 0700 directory; written atomically (temp + rename). */
export class FileSecretStore implements SecretStore {
  readonly description: string;

  constructor(private readonly dir: string) {
    this.description = `file:${dir}`;
  }

  async get(name: string): Promise<string | undefined> {
    checkName(name);
    const file = path.join(this.dir, name);
    let mode: number;
    try {
      mode = (await stat(file)).mode;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    if ((mode & 0o077) !== 0) throw new InsecureSecretError(file, mode);
    return readFile(file, 'utf8');
  }

  async put(name: string, value: string): Promise<void> {
    checkName(name);
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    await chmod(this.dir, 0o700);
    const file = path.join(this.dir, name);
    const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
    // O_EXCL + 0600 at creation: the key is never readable by others, not even briefly.
    const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
    try {
      await fh.writeFile(value, 'utf8');
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await rename(tmp, file);
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
  }
}

/**
 * Read-only secrets from the environment: `fleet-ca-key` with prefix `DROVER_SECRET_` is
 * `DROVER_SECRET_FLEET_CA_KEY`. Values are PEM as is, or base64 (newlines survive no env file).
 */
export class EnvSecretStore implements SecretStore {
  readonly description: string;

  constructor(
    private readonly prefix = 'DROVER_SECRET_',
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {
    this.description = `env:${prefix}`;
  }

  /** The variable that holds `name`. */
  variableName(name: string): string {
    checkName(name);
    return `${this.prefix}${name.replace(/-/g, '_').toUpperCase()}`;
  }

  async get(name: string): Promise<string | undefined> {
    const variable = this.variableName(name);
    const raw = this.env[variable];
    if (raw === undefined || raw === '') return undefined;
    if (raw.trimStart().startsWith('-----BEGIN')) return raw.replace(/\\n/g, '\n');
    const compact = raw.replace(/\s+/g, '');
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact)) {
      throw new Error(`${variable}: expected PEM or base64`);
    }
    return Buffer.from(compact, 'base64').toString('utf8');
  }

  async put(_name: string, _value: string): Promise<void> {
    throw new ReadOnlySecretStoreError(this.description);
  }
}

/** An in-memory store (tests, and `loadOrCreatePki` dry runs). */
export class MemorySecretStore implements SecretStore {
  readonly description = 'memory';
  /** The stored values. */
  readonly values = new Map<string, string>();

  async get(name: string): Promise<string | undefined> {
    checkName(name);
    return this.values.get(name);
  }

  async put(name: string, value: string): Promise<void> {
    checkName(name);
    this.values.set(name, value);
  }
}
