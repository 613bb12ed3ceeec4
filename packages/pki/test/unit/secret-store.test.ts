import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  EnvSecretStore,
  FileSecretStore,
  InsecureSecretError,
  MemorySecretStore,
  ReadOnlySecretStoreError,
  VaultKvStore,
  type SecretStore,
} from '@drover/pki';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), 'drover-secrets-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/**
 * A fake of the two Vault KV v2 endpoints node-vault calls: GET and POST/PUT
 * `/v1/<mount>/data/<path>`, with the X-Vault-Token check. Vault is an external product.
 */
function fakeVault(token: string): Promise<{ url: string; server: Server; requests: string[] }> {
  const data = new Map<string, { value: unknown; version: number }>();
  const requests: string[] = [];
  const body = (req: IncomingMessage): Promise<string> =>
    new Promise((resolve) => {
      let s = '';
      req.on('data', (c: Buffer) => (s += c.toString()));
      req.on('end', () => resolve(s));
    });
  const server = createServer(async (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const send = (status: number, json: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(json));
    };
    if (req.headers['x-vault-token'] !== token) return send(403, { errors: ['permission denied'] });
    const m = /^\/v1\/([^/]+)\/data\/(.+)$/.exec(req.url ?? '');
    if (!m) return send(404, { errors: [] });
    const key = `${m[1]}/${m[2]}`;
    if (req.method === 'GET') {
      const entry = data.get(key);
      if (!entry) return send(404, { errors: [] });
      return send(200, {
        data: { data: entry.value, metadata: { version: entry.version } },
      });
    }
    if (req.method === 'POST' || req.method === 'PUT') {
      const parsed = JSON.parse(await body(req)) as { data: unknown };
      const version = (data.get(key)?.version ?? 0) + 1;
      data.set(key, { value: parsed.data, version });
      return send(200, { data: { version } });
    }
    return send(405, { errors: ['method'] });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        server,
        requests,
      }),
    ),
  );
}

describe.each<[string, () => Promise<SecretStore>]>([
  ['FileSecretStore', async () => new FileSecretStore(await mkdtemp(path.join(tmp, 'f-')))],
  ['MemorySecretStore', async () => new MemorySecretStore()],
])('%s', (_name, make) => {
  it('round-trips, overwrites and answers undefined for a missing secret', async () => {
    const store = await make();
    expect(await store.get('fleet-ca-key')).toBeUndefined();
    await store.put('fleet-ca-key', 'one\n');
    await store.put('fleet-ca-key', 'two\n');
    expect(await store.get('fleet-ca-key')).toBe('two\n');
  });

  it.each(['../etc/passwd', 'a/b', '.hidden', 'UPPER', ''])('refuses name %p', async (n) => {
    const store = await make();
    await expect(store.put(n, 'x')).rejects.toThrow(/invalid secret name/);
    await expect(store.get(n)).rejects.toThrow(/invalid secret name/);
  });
});

describe('FileSecretStore permissions', () => {
  it('writes files 0600 in a 0700 directory', async () => {
    const dir = path.join(tmp, 'perm');
    await new FileSecretStore(dir).put('k', 'secret');
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(path.join(dir, 'k'))).mode & 0o777).toBe(0o600);
  });

  it.each([0o640, 0o604, 0o644])('refuses to read a key file with mode %o', async (mode) => {
    const dir = path.join(tmp, `loose-${mode}`);
    const store = new FileSecretStore(dir);
    await store.put('k', 'secret');
    await chmod(path.join(dir, 'k'), mode);
    await expect(store.get('k')).rejects.toBeInstanceOf(InsecureSecretError);
  });
});

describe('EnvSecretStore', () => {
  const pem = '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n';
  it.each<[string, string | undefined, string | undefined]>([
    ['PEM as is', pem, pem],
    ['PEM with escaped newlines', pem.replace(/\n/g, '\\n'), pem],
    ['base64', Buffer.from(pem).toString('base64'), pem],
    ['missing', undefined, undefined],
    ['empty', '', undefined],
  ])('%s', async (_name, raw, expected) => {
    const env = raw === undefined ? {} : { DROVER_SECRET_FLEET_CA_KEY: raw };
    const store = new EnvSecretStore('DROVER_SECRET_', env);
    expect(store.variableName('fleet-ca-key')).toBe('DROVER_SECRET_FLEET_CA_KEY');
    expect(await store.get('fleet-ca-key')).toBe(expected);
  });

  it('refuses values that are neither PEM nor base64, and writes', async () => {
    const store = new EnvSecretStore('X_', { X_K: 'not base64!' });
    await expect(store.get('k')).rejects.toThrow('X_K: expected PEM or base64');
    await expect(store.put('k', 'v')).rejects.toBeInstanceOf(ReadOnlySecretStoreError);
  });
});

describe('VaultKvStore (KV v2 against a local fake of the Vault HTTP API)', () => {
  let vault: Awaited<ReturnType<typeof fakeVault>>;
  beforeAll(async () => {
    vault = await fakeVault('s.test-token');
  });
  afterAll(async () => {
    await new Promise((r) => vault.server.close(r));
  });

  it('writes and reads secrets under <mount>/data/<path>/<name>', async () => {
    const store = new VaultKvStore({
      endpoint: vault.url,
      token: 's.test-token',
      mount: 'kv',
      path: 'drover/pki',
    });
    expect(await store.get('fleet-ca-key')).toBeUndefined();
    await store.put('fleet-ca-key', 'PEM');
    await store.put('fleet-ca-key', 'PEM v2');
    expect(await store.get('fleet-ca-key')).toBe('PEM v2');
    expect(vault.requests).toEqual([
      'GET /v1/kv/data/drover/pki/fleet-ca-key',
      'POST /v1/kv/data/drover/pki/fleet-ca-key',
      'POST /v1/kv/data/drover/pki/fleet-ca-key',
      'GET /v1/kv/data/drover/pki/fleet-ca-key',
    ]);
    expect(store.description).toBe('vault:kv/drover/pki');
  });

  it('surfaces a permission error instead of treating it as missing', async () => {
    const store = new VaultKvStore({ endpoint: vault.url, token: 'wrong' });
    await expect(store.get('fleet-ca-key')).rejects.toThrow(/permission denied/);
  });
});

describe('file written by others', () => {
  it('a 0600 file written by an operator is read', async () => {
    const dir = path.join(tmp, 'op');
    await new FileSecretStore(dir).put('seed', 'x');
    await writeFile(path.join(dir, 'k'), 'operator', { mode: 0o600 });
    expect(await new FileSecretStore(dir).get('k')).toBe('operator');
  });
});
