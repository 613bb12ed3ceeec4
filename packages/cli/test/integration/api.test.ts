// The CLI against the real platform: a development token from `drover token`, the real
// api-gateway listening on a free port and the real device-registry behind it, on a fresh
// namespace, Postgres schema and Redis prefix.
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
import { createLogger } from '../../../observability/src/logger';
import { devKeyPaths } from '../../src/dev-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

const silent = () => createLogger({ service: 'cli-test', level: 'silent' });
const ns = testNamespace('cli_api');
const schema = `${ns}_registry`;
const repo = tempRepo();
let bus: Awaited<ReturnType<typeof withTestBus>>;
let registry: DeviceRegistry;
let gateway: RunningGateway;
let writer: string;
let reader: string;

async function drover(args: string[], token?: string) {
  const env = { DROVER_API: gateway.url, ...(token ? { DROVER_TOKEN: token } : {}) };
  const io = captureIo(repo.root, env);
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

async function devToken(scope: string): Promise<string> {
  const res = await drover(['token', '--tenant', 'acme', '--scope', scope]);
  expect(res.code).toBe(0);
  return res.out.trim();
}

beforeAll(async () => {
  bus = await withTestBus(ns);
  registry = await startDeviceRegistry(
    {
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      DB_SCHEMA: schema,
      DB_POOL_MAX: 2,
    },
    { logger: silent() },
  );
  // The token command creates the key pair; the gateway reads its public half, as in npm start.
  writer = await devTokenBeforeGateway('devices:read devices:write');
  const config = loadGatewayConfig({
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    DROVER_NAMESPACE: ns,
    API_HOST: '127.0.0.1',
    API_PORT: '0',
    AUTH_JWKS_FILE: devKeyPaths(repo.root).jwks,
  });
  gateway = await startGateway(config, { logger: silent() });
  reader = await devToken('devices:read');
});

async function devTokenBeforeGateway(scope: string): Promise<string> {
  const io = captureIo(repo.root);
  expect(await run(['token', '--tenant', 'acme', '--scope', scope], io)).toBe(0);
  return io.out().trim();
}

afterAll(async () => {
  await gateway?.close();
  await registry?.stop();
  await cleanupNamespace(ns, { bus });
  await bus?.close();
  const db = await createTestDb(schema);
  await dropTestDb(db, schema);
  repo.remove();
});

describe('drover devices against the real gateway and registry', () => {
  it('creates a device from flags and prints the JSON the API returned', async () => {
    const res = await drover(
      [
        'devices',
        'create',
        '--device-type',
        'sensor',
        '--hardware-id',
        'hw-cli-1',
        '--device-id',
        'cli-1',
        '--tag',
        'lab,floor-2',
        '--attr',
        'room=b12',
        '--attr',
        'level=2',
        '--json',
      ],
      writer,
    );
    expect(res.err).toBe('');
    expect(res.code).toBe(0);
    expect(JSON.parse(res.out)).toMatchObject({
      device_id: 'cli-1',
      tenant: 'acme',
      device_type: 'sensor',
      status: 'active',
      tags: expect.arrayContaining(['lab', 'floor-2']),
      attributes: { room: 'b12', level: 2 },
    });
  });

  it('shows a device as a table and lists with filters', async () => {
    const got = await drover(['devices', 'get', 'cli-1'], reader);
    expect(got.code).toBe(0);
    expect(got.out).toMatch(/device_id\s+│ cli-1/);
    expect(got.out).toMatch(/attributes\s+│ room=b12 level=2/);

    const listed = await drover(['devices', 'list', '--tag', 'lab', '--json'], reader);
    expect(listed.code).toBe(0);
    const page = JSON.parse(listed.out) as { items: Array<{ device_id: string }> };
    expect(page.items.map((d) => d.device_id)).toEqual(['cli-1']);

    const none = await drover(['devices', 'list', '--tag', 'nowhere'], reader);
    expect(none.out).toBe('(none)\n');
  });

  it('pages with --limit and follows every page with --all', async () => {
    for (const n of [2, 3]) {
      const res = await drover(
        ['devices', 'create', '--device-type', 'sensor', '--hardware-id', `hw-cli-${n}`],
        writer,
      );
      expect(res.code).toBe(0);
      expect(res.out).toMatch(/device_id\s+│ d-[0-9a-z]{26}/);
    }
    const first = await drover(['devices', 'list', '--limit', '1'], reader);
    expect(first.code).toBe(0);
    expect(first.err).toMatch(/^more: --cursor \S+ \(or --all\)\n$/);

    const all = await drover(['devices', 'list', '--limit', '1', '--all', '--json'], reader);
    const page = JSON.parse(all.out) as { items: Array<{ device_id: string }>; next_cursor: null };
    expect(page.items).toHaveLength(3);
    expect(new Set(page.items.map((d) => d.device_id)).size).toBe(3);
    expect(page.next_cursor).toBeNull();
  });

  it.each([
    ['a missing device', ['devices', 'get', 'nope'], 'reader', /^device_not_found: .+ \(\S+\)\n$/],
    [
      'a taken id',
      [
        'devices',
        'create',
        '--device-type',
        'sensor',
        '--hardware-id',
        'hw-x',
        '--device-id',
        'cli-1',
      ],
      'writer',
      /^device_exists: .+ \(\S+\)\n$/,
    ],
    [
      'a missing scope',
      ['devices', 'create', '--device-type', 'sensor', '--hardware-id', 'hw-y'],
      'reader',
      /^insufficient_scope: .+ \(\S+\)\n$/,
    ],
    ['no token', ['devices', 'list'], 'none', /no token: pass --token or set DROVER_TOKEN/],
  ])('prints error_code: detail (correlation_id) and exits 1 for %s', async (_, args, who, err) => {
    const token = who === 'reader' ? reader : who === 'writer' ? writer : undefined;
    const res = await drover(args as string[], token);
    expect(res.code).toBe(1);
    expect(res.out).toBe('');
    expect(res.err).toMatch(err as RegExp);
  });
});
