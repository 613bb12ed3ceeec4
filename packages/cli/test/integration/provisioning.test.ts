// drover enroll / provision / cert against the real platform: the api-gateway listening on a
// free port, the real device-registry and provisioning services behind it, on a fresh
// namespace; the token from `drover token`, a bootstrap certificate from `drover dev`.
import { randomBytes, X509Certificate, createPublicKey } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { loadOrCreatePki, MemorySecretStore } from '@drover/pki';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  withTestBus,
} from '@drover/testing';
import { type RunningGateway, startGateway } from '../../../../services/api-gateway/src/app';
import { loadGatewayConfig } from '../../../../services/api-gateway/src/config';
import {
  type DeviceRegistry,
  startDeviceRegistry,
} from '../../../../services/device-registry/src/app';
import {
  type ProvisioningService,
  startProvisioning,
} from '../../../../services/provisioning/src/app';
import { createLogger } from '../../../observability/src/logger';
import { devKeyPaths } from '../../src/dev-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

const silent = () => createLogger({ service: 'cli-test', level: 'silent' });
const ns = testNamespace('cli_prov');
const schemas = { registry: `${ns}_registry`, prov: `${ns}_prov` };
const repo = tempRepo();
let bus: Awaited<ReturnType<typeof withTestBus>>;
let registry: DeviceRegistry;
let provisioning: ProvisioningService;
let gateway: RunningGateway;
let operator: string;

async function drover(args: string[], token?: string) {
  const env = { DROVER_API: gateway.url, ...(token ? { DROVER_TOKEN: token } : {}) };
  const io = captureIo(repo.root, env);
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

beforeAll(async () => {
  bus = await withTestBus(ns);
  registry = await startDeviceRegistry(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: schemas.registry,
      DB_POOL_MAX: 2,
    },
    { logger: silent() },
  );
  provisioning = await startProvisioning(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: schemas.prov,
      DB_POOL_MAX: 3,
      OUTBOX_POLL_MS: 50,
      CRL_PATH: join(repo.root, 'crl.pem'),
    },
    {
      logger: silent(),
      pki: await loadOrCreatePki(new MemorySecretStore()),
      resultKey: randomBytes(32),
    },
  );
  const io = captureIo(repo.root);
  expect(
    await run(['token', '--tenant', 'acme', '--scope', 'provisioning:write devices:read'], io),
  ).toBe(0);
  operator = io.out().trim();
  gateway = await startGateway(
    loadGatewayConfig({
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      AUTH_JWKS_FILE: devKeyPaths(repo.root).jwks,
    }),
    { logger: silent() },
  );
}, 60_000);

afterAll(async () => {
  await gateway?.close();
  await provisioning?.stop();
  await registry?.stop();
  await cleanupNamespace(ns, { bus });
  await bus?.close();
  for (const schema of Object.values(schemas)) {
    await dropTestDb(await createTestDb(schema), schema);
  }
  repo.remove();
});

describe('drover enroll, provision and cert against the real platform', () => {
  it('enrolls hardware ids and lists the enrollment', async () => {
    const res = await drover(
      ['enroll', 'HW-1', 'HW-2', '--device-type', 'sensor', '--allow-server-keys', '--json'],
      operator,
    );
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({
      tenant: 'acme',
      device_type: 'sensor',
      kind: 'individual',
      hardware_id_count: 2,
      allow_server_keys: true,
    });
    const list = await drover(['enrollments'], operator);
    expect(list.code).toBe(0);
    expect(list.out).toMatch(/sensor\s+│ individual\s+│ 2\s+│ true/);
  });

  it('provisions with a key made locally and writes the credentials', async () => {
    const res = await drover(
      [
        'provision',
        '--hardware-id',
        'HW-1',
        '--device-type',
        'sensor',
        '--generate-key',
        '--out',
        'dev1',
        '--json',
      ],
      operator,
    );
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    const body = JSON.parse(res.out) as {
      device_id: string;
      files: string[];
      private_key?: string;
    };
    expect(body.private_key).toBeUndefined();
    const dir = join(repo.root, 'dev1');
    expect(body.files).toEqual([
      join(dir, `${body.device_id}.crt`),
      join(dir, `${body.device_id}.key`),
      join(dir, 'ca.crt'),
    ]);
    const cert = new X509Certificate(readFileSync(body.files[0]!, 'utf8'));
    expect(cert.subject).toBe(`CN=${body.device_id}`);
    expect(statSync(body.files[1]!).mode & 0o777).toBe(0o600);
    expect(createPublicKey(readFileSync(body.files[1]!, 'utf8')).export({ format: 'jwk' })).toEqual(
      cert.publicKey.export({ format: 'jwk' }),
    );
  });

  it('provisions with a server key: the same --idempotency-key gives the same key', async () => {
    const args = [
      'provision',
      '--hardware-id',
      'HW-2',
      '--device-type',
      'sensor',
      '--idempotency-key',
      'line-1:HW-2',
    ];
    const a = await drover([...args, '--out', 'a'], operator);
    const b = await drover([...args, '--out', 'b'], operator);
    expect(a.code).toBe(0);
    expect(b.code).toBe(0);
    expect(a.out).toMatch(/request_id\s+│ line-1:HW-2/);
    const files = (d: string) =>
      readFileSync(join(repo.root, d, `${a.out.match(/device_id\s+│ (\S+)/)![1]}.key`), 'utf8');
    expect(files('a')).toContain('PRIVATE KEY');
    expect(files('b')).toBe(files('a'));
  });

  it('shows, rotates and revokes the certificate; refusals print error_code and exit 1', async () => {
    const provisioned = await drover(
      [
        'provision',
        '--hardware-id',
        'HW-1',
        '--device-type',
        'sensor',
        '--generate-key',
        '--out',
        'dev1b',
        '--json',
      ],
      operator,
    );
    const { device_id: id } = JSON.parse(provisioned.out) as { device_id: string };
    const show = await drover(['cert', 'show', id], operator);
    expect(show.code).toBe(0);
    expect(show.out).toMatch(/│ active/);
    const rotate = await drover(['cert', 'rotate', id, '--json'], operator);
    expect(rotate.code).toBe(0);
    expect(JSON.parse(rotate.out)).toMatchObject({ device_id: id, status: 'requested' });
    const revoke = await drover(['cert', 'revoke', id, '--reason', 'lost in transit'], operator);
    expect(revoke.code).toBe(0);
    expect(revoke.out).toMatch(/^[0-9a-f]+\n/);
    const none = await drover(['cert', 'revoke', id], operator);
    expect(none.out).toBe('(none revoked)\n');

    const refused = await drover(
      [
        'provision',
        '--hardware-id',
        'HW-9',
        '--device-type',
        'sensor',
        '--generate-key',
        '--out',
        'x',
      ],
      operator,
    );
    expect(refused.code).toBe(1);
    expect(refused.err).toMatch(/^not_enrolled: .+ \(\S+\)\n$/);
  });
});
