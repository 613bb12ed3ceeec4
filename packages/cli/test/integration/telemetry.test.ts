// `drover telemetry get|tail` against the real gateway, registry and telemetry-ingest, fed
// through the TELEMETRY stream as mqtt-ingress would feed it.
import { publish } from '@drover/bus';
import { telemetrySubject } from '@drover/contracts';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type RunningGateway, startGateway } from '../../../../services/api-gateway/src/app';
import { loadGatewayConfig } from '../../../../services/api-gateway/src/config';
import {
  type DeviceRegistry,
  startDeviceRegistry,
} from '../../../../services/device-registry/src/app';
import {
  type TelemetryIngest,
  startTelemetryIngest,
} from '../../../../services/telemetry-ingest/src/app';
import { loadIngestConfig } from '../../../../services/telemetry-ingest/src/config';
import { createLogger } from '../../../observability/src/logger';
import { devKeyPaths } from '../../src/dev-keys';
import { run } from '../../src/program';
import { captureIo, tempRepo } from '../helpers/capture-io';

const silent = () => createLogger({ service: 'cli-test', level: 'silent' });
const ns = testNamespace('cli_tel');
const schema = `${ns}_registry`;
const telSchema = `${ns}_tel`;
const repo = tempRepo();
let bus: Awaited<ReturnType<typeof withTestBus>>;
let registry: DeviceRegistry;
let ingest: TelemetryIngest;
let gateway: RunningGateway;
let reader: string;
// Minute-aligned: 1m buckets of 6 messages each (10 s apart, temp = k).
const base = Math.floor((Date.now() - 20 * 60_000) / 60_000) * 60_000;
const from = new Date(base).toISOString();
const to = new Date(base + 60 * 10_000).toISOString();

async function drover(args: string[], token = reader) {
  const io = captureIo(repo.root, { DROVER_API: gateway.url, DROVER_TOKEN: token });
  const code = await run(args, io);
  return { code, out: io.out(), err: io.err() };
}

async function token(scope: string): Promise<string> {
  const io = captureIo(repo.root);
  expect(await run(['token', '--tenant', 'acme', '--scope', scope], io)).toBe(0);
  return io.out().trim();
}

function publishRows(first: number, count: number) {
  const subject = telemetrySubject(bus.naming, 'acme', 'sensor', 'c-1');
  return Promise.all(
    Array.from({ length: count }, (_, i) => {
      const k = first + i;
      const ts = base + k * 10_000;
      const msg = {
        ...{ tenant: 'acme', device_type: 'sensor', device_id: 'c-1', msg_id: `m${k}`, ts },
        ...{ schema_version: 1, received_at: new Date(ts).toISOString(), metrics: { temp: k } },
      };
      return publish(bus, subject, msg, { msgId: `c-1:m${k}` });
    }),
  );
}

beforeAll(async () => {
  bus = await withTestBus(ns);
  const env = {
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    DROVER_NAMESPACE: ns,
  };
  registry = await startDeviceRegistry(
    { ...env, DB_SCHEMA: schema, DB_POOL_MAX: 2 },
    { logger: silent() },
  );
  ingest = await startTelemetryIngest(
    loadIngestConfig({ ...env, DB_SCHEMA: telSchema, DB_POOL_MAX: '2', ENSURE_STREAMS: 'false' }),
    { logger: silent(), opsServer: false },
  );
  const writer = await token('devices:write');
  reader = await token('telemetry:read');
  gateway = await startGateway(
    loadGatewayConfig({
      ...env,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      AUTH_JWKS_FILE: devKeyPaths(repo.root).jwks,
    }),
    { logger: silent() },
  );
  const created = await drover(
    ['devices', 'create', '--device-id', 'c-1', '--device-type', 'sensor', '--hardware-id', 'h'],
    writer,
  );
  expect(created.code).toBe(0);
  await publishRows(0, 50);
  await waitFor(
    async () =>
      (
        await drover(['telemetry', 'get', 'c-1', '--from', from, '--to', to, '--json'])
      ).out.includes('"m49"'),
    { timeoutMs: 20_000 },
  );
});

afterAll(async () => {
  await gateway?.close();
  await ingest?.stop();
  await registry?.stop();
  await cleanupNamespace(ns, { bus });
  await bus?.close();
  for (const s of [schema, telSchema]) await dropTestDb(await createTestDb(s), s);
  repo.remove();
});

describe('drover telemetry', () => {
  it('get prints raw rows as a table', async () => {
    const res = await drover([
      'telemetry',
      'get',
      'c-1',
      '--from',
      from,
      '--to',
      to,
      '--limit',
      '3',
    ]);
    expect(res.code).toBe(0);
    expect(res.out).toContain('MSG ID');
    expect(res.out).toContain('temp=2');
    expect(res.out).not.toContain('m3 ');
    expect(res.out).toContain(`${from.slice(0, 19).replace('T', ' ')}Z`);
  });

  it('get --metric --bucket --agg prints buckets; --json prints the API answer', async () => {
    const args = ['telemetry', 'get', 'c-1', '--from', from, '--to', to];
    const agg = ['--metric', 'temp', '--bucket', '1m', '--agg', 'sum'];
    const json = await drover([...args, ...agg, '--json']);
    expect(json.code).toBe(0);
    const body = JSON.parse(json.out);
    expect(body).toMatchObject({ metric: 'temp', agg: 'sum', bucket: '1m' });
    // Bucket 0 holds temp 0..5 = 15; bucket 1 holds 6..11 = 51.
    expect(body.items.slice(0, 2).map((i: { value: number }) => i.value)).toEqual([15, 51]);
    const table = await drover([...args, ...agg]);
    expect(table.out).toContain('BUCKET');
    expect(table.out).toContain('51');
  });

  it('get rejects a bad aggregate before calling the API, and reports API errors', async () => {
    const bad = await drover(['telemetry', 'get', 'c-1', '--agg', 'median']);
    expect(bad.code).not.toBe(0);
    const range = await drover(['telemetry', 'get', 'c-1', '--from', to, '--to', from]);
    expect(range.code).not.toBe(0);
    expect(range.err).toContain('invalid_range');
  });

  it('tail prints the rows after --from, then new ones as they arrive, each once', async () => {
    const start = new Date(base + 45 * 10_000).toISOString();
    const tail = drover([
      ...['telemetry', 'tail', 'c-1', '--from', start, '--interval', '100', '--count', '10'],
      '--json',
    ]);
    // m45..m49 are stored; m50..m54 arrive while tail polls.
    await publishRows(50, 5);
    const res = await tail;
    expect(res.code).toBe(0);
    const ids = res.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).msg_id);
    expect(ids).toEqual(Array.from({ length: 10 }, (_, i) => `m${45 + i}`));
  });
});
