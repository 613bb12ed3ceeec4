// Vault KV version 2 as a SecretStore, through node-vault. Each secret is one KV entry
// `<mount>/data/<path>/<name>` holding `{value}`.
import vault from 'node-vault';
import { type SecretStore, SECRET_NAME } from './secret-store';

/** Connection and location of the KV v2 secrets. */
export interface VaultKvOptions {
  /** Vault address, e.g. `https://vault.internal:8200`. */
  endpoint: string;
  /** Vault token (from the environment; never logged). */
  token: string;
  /** KV v2 mount (default `secret`). */
  mount?: string;
  /** Folder under the mount (default `drover/pki`). */
  path?: string;
  /** Request timeout in ms (default 5000). */
  timeoutMs?: number;
}

interface VaultHttpError {
  response?: { statusCode?: number };
}

/** KV v2 store. Reads the latest version; writes a new version. */
export class VaultKvStore implements SecretStore {
  readonly description: string;
  private readonly client: vault.client;
  private readonly base: string;

  constructor(opts: VaultKvOptions) {
    const mount = (opts.mount ?? 'secret').replace(/^\/+|\/+$/g, '');
    const folder = (opts.path ?? 'drover/pki').replace(/^\/+|\/+$/g, '');
    this.base = `${mount}/data/${folder}`;
    this.description = `vault:${mount}/${folder}`;
    this.client = vault({
      apiVersion: 'v1',
      endpoint: opts.endpoint,
      token: opts.token,
      requestOptions: { timeout: opts.timeoutMs ?? 5000 },
    });
  }

  private entry(name: string): string {
    if (!SECRET_NAME.test(name)) throw new Error(`invalid secret name ${JSON.stringify(name)}`);
    return `${this.base}/${name}`;
  }

  async get(name: string): Promise<string | undefined> {
    try {
      const res = (await this.client.read(this.entry(name))) as {
        data?: { data?: { value?: unknown } };
      };
      const value = res.data?.data?.value;
      if (typeof value !== 'string') throw new Error(`vault entry ${name} has no string value`);
      return value;
    } catch (err) {
      // KV v2 answers 404 both for a missing and for a deleted (latest version) secret.
      if ((err as VaultHttpError).response?.statusCode === 404) return undefined;
      throw err;
    }
  }

  async put(name: string, value: string): Promise<void> {
    await this.client.write(this.entry(name), { data: { value } });
  }
}
