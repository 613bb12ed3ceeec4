// GET /api/v1/devices/{id}/telemetry[/latest] over HTTP against the real registry and a real
// telemetry-ingest, fed through the TELEMETRY stream as mqtt-ingress would feed it.
import { publish } from '@drover/bus';
import { telemetrySubject } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import {
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  createTestDb,
  dropTestDb,
  waitFor,
} from '@drover/testing';
import { type TelemetryIngest, startTelemetryIngest } from '../../../telemetry-ingest/src/app';
import { loadIngestConfig } from '../../../telemetry-ingest/src/config';
import { type Stack, startStack } from '../support/stack';

const COUNT = 120;
const STEP_MS = 5000;
let stack: Stack;
let ingest: TelemetryIngest;
let db: Awaited<ReturnType<typeof createTestDb>>;
let schema: string;
let reader: { authorization: string };
// Minute-aligned, so each 1m bucket holds 12 messages (temp = k).
const base = Math.floor((Date.now() - 30 * 60_000) / 60_000) * 60_000;
const from = new Date(base).toISOString();
const to = new Date(base + COUNT * STEP_MS).toISOString();
const url = (q: string, id = 't-1') => `/api/v1/devices/${id}/telemetry?${q}`;
const get = (u: string, headers = reader) => stack.app.inject({ url: u, headers });

beforeAll(async () => {
  stack = await startStack('gw_tel');
  schema = `${stack.ns}_tel`;
  ingest = await startTelemetryIngest(
    loadIngestConfig({
      NATS_URL: TEST_NATS_URL,
      DATABASE_URL: TEST_DATABASE_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: stack.ns,
      DB_SCHEMA: schema,
      DB_POOL_MAX: '2',
      ENSURE_STREAMS: 'false',
      OPS_PORT: '0',
    }),
    { logger: createLogger({ service: 'test', level: 'silent' }), opsServer: false },
  );
  db = await createTestDb(schema);
  const admin = await stack.bearer('devices:write');
  const created = await stack.app.inject({
    method: 'POST',
    url: '/api/v1/devices',
    headers: admin,
    payload: { device_id: 't-1', device_type: 'sensor', hardware_id: 'hw-t-1' },
  });
  expect(created.statusCode).toBe(201);
  reader = await stack.bearer('telemetry:read');
  const subject = telemetrySubject(stack.bus.naming, 'acme', 'sensor', 't-1');
  await Promise.all(
    Array.from({ length: COUNT }, (_, k) => {
      const ts = base + k * STEP_MS;
      const msg = {
        tenant: 'acme',
        device_type: 'sensor',
        device_id: 't-1',
        msg_id: `m${k}`,
        ts,
        schema_version: 1,
        received_at: new Date(ts + 7).toISOString(),
        metrics: { temp: k, label: `x${k}` },
      };
      return publish(stack.bus, subject, msg, { msgId: `t-1:m${k}` });
    }),
  );
  await waitFor(
    async () => (await get(url(`from=${from}&to=${to}&limit=1000`))).json().items?.length === COUNT,
    { timeoutMs: 20_000 },
  );
});
afterAll(async () => {
  await ingest?.stop();
  if (db !== undefined) await dropTestDb(db, schema);
  await stack?.stop();
});

describe('raw telemetry', () => {
  it('pages through a range in time order with next_cursor', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const c: string = cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`;
      const res = await get(url(`from=${from}&to=${to}&limit=50${c}`));
      expect(res.statusCode).toBe(200);
      const body = res.json();
      seen.push(...body.items.map((i: { msg_id: string }) => i.msg_id));
      cursor = body.next_cursor;
    } while (cursor !== null);
    expect(seen).toEqual(Array.from({ length: COUNT }, (_, k) => `m${k}`));
  });

  it('answers the stored row shape', async () => {
    const res = await get(url(`from=${from}&to=${to}&limit=1`));
    expect(res.json().items[0]).toEqual({
      ts: new Date(base).toISOString().replace('Z', '000Z'),
      received_at: new Date(base + 7).toISOString().replace('Z', '000Z'),
      msg_id: 'm0',
      metrics: { temp: 0, label: 'x0' },
    });
  });

  it('defaults to the last hour', async () => {
    const res = await get(url('limit=1000'));
    expect(res.statusCode).toBe(200);
    expect(res.json().items).toHaveLength(COUNT);
  });
});

describe('bucketed telemetry', () => {
  const expected: Record<string, (i: number) => number> = {
    avg: (i) => 12 * i + 5.5,
    min: (i) => 12 * i,
    max: (i) => 12 * i + 11,
    sum: (i) => 144 * i + 66,
    count: () => 12,
    last: (i) => 12 * i + 11,
  };
  it.each(Object.keys(expected))('aggregates temp with %s over 1m buckets', async (agg) => {
    const res = await get(url(`from=${from}&to=${to}&metric=temp&bucket=1m&agg=${agg}`));
    expect(res.statusCode).toBe(200);
    const want = Array.from({ length: COUNT / 12 }, (_, i) => ({
      ts: new Date(base + i * 60_000).toISOString().replace('.000Z', 'Z'),
      value: expected[agg]!(i),
    }));
    expect(res.json()).toEqual({ metric: 'temp', agg, bucket: '1m', items: want });
  });
});

describe('latest', () => {
  it('answers the newest message', async () => {
    const res = await get(`/api/v1/devices/t-1/telemetry/latest`);
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ msg_id: `m${COUNT - 1}`, metrics: { temp: COUNT - 1 } });
  });
});

describe('errors', () => {
  it.each([
    ['reversed range', `from=${to}&to=${from}`],
    ['empty range', `from=${from}&to=${from}`],
    ['range over 31 days', `from=2026-01-01T00:00:00Z&to=2026-02-02T00:00:00Z`],
    ['not RFC 3339', `from=yesterday&to=${to}`],
    ['bad bucket', `from=${from}&to=${to}&metric=temp&bucket=1x&agg=avg`],
    ['bad agg', `from=${from}&to=${to}&metric=temp&bucket=1m&agg=median`],
    ['bucket without agg', `from=${from}&to=${to}&metric=temp&bucket=1m`],
  ])('answers 400 for a %s', async (_name, q) => {
    const res = await get(url(q));
    expect(res.statusCode).toBe(400);
  });

  it('answers 403 without telemetry:read', async () => {
    const res = await get(url(`from=${from}&to=${to}`), await stack.bearer('devices:read'));
    expect(res.statusCode).toBe(403);
  });

  it("answers 404 for another tenant's device, raw and latest", async () => {
    const other = await stack.bearer('telemetry:read', 'globex');
    expect((await get(url(`from=${from}&to=${to}`), other)).statusCode).toBe(404);
    expect((await get('/api/v1/devices/t-1/telemetry/latest', other)).statusCode).toBe(404);
  });

  it('answers 404 for an unknown device', async () => {
    expect((await get(url('limit=1', 'nobody'))).statusCode).toBe(404);
  });
});
