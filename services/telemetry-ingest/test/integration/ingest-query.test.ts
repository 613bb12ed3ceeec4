// telemetry-ingest in-process on the shared servers: batched inserts with dedup, poison
// messages to the DLQ, daily partitions and retention, the query RPC, latest values.
import { sql, type Kysely } from 'kysely';
import { type Bus, publish, rpcRequest } from '@drover/bus';
import { dlqSubject, telemetrySubject } from '@drover/contracts';
import { createLogger } from '@drover/observability';
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
import { type TelemetryIngest, startTelemetryIngest } from '../../src/app';
import { loadIngestConfig } from '../../src/config';
import { counts, publishTelemetry, telemetryMessage } from './ingest.harness';

const DAY = 86_400_000;
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('telemetry-ingest', () => {
  const ns = testNamespace('ingq');
  const schema = `${ns}_tel`;
  let bus: Bus;
  let db: Kysely<unknown>;
  let ingest: TelemetryIngest;
  const now = Date.now();

  beforeAll(async () => {
    bus = await withTestBus(ns);
    ingest = await startTelemetryIngest(
      loadIngestConfig({
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: schema,
        DB_POOL_MAX: '3',
        ENSURE_STREAMS: 'false',
        RETENTION_DAYS: '30',
        OPS_PORT: '0',
      }),
      { logger: silent },
    );
    db = await createTestDb(schema);
  });
  afterAll(async () => {
    await ingest?.stop();
    await dropTestDb(db, schema);
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('stores each distinct message once, whatever the redeliveries', async () => {
    await publishTelemetry(bus, { devices: 10, count: 3000, ts: now - 3000 });
    // Same messages again under new Nats-Msg-Ids: JetStream cannot dedup them, the table does.
    for (let k = 0; k < 300; k += 1) {
      const id = `d${k % 10}`;
      const msg = telemetryMessage(id, `m${k}`, now - 3000 + k, { v: k });
      await publish(bus, telemetrySubject(bus.naming, 'acme', 'sensor', id), msg, {
        msgId: `again-${k}`,
      });
    }
    await waitFor(async () => (await counts(db)).rows === 3000, { timeoutMs: 60_000 });
    const dup = ingest.metrics.registry.getSingleMetric('drover_telemetry_duplicates_total');
    // The 300 repeats arrive after the originals: on a loaded machine they may still be on
    // their way when the last original row lands.
    await waitFor(async () => (await dup!.get()).values[0]?.value === 300, { timeoutMs: 60_000 });
    expect(await counts(db)).toEqual({ rows: 3000, distinct: 3000 });
  }, 90_000);

  it('dead-letters an unusable message and keeps going', async () => {
    const subject = telemetrySubject(bus.naming, 'acme', 'sensor', 'd1');
    await publish(bus, subject, new TextEncoder().encode('not json'), { msgId: 'poison-1' });
    await publish(
      bus,
      subject,
      { ...telemetryMessage('d1', 'x', now), ts: 'never' },
      {
        msgId: 'poison-2',
      },
    );
    await publish(bus, subject, telemetryMessage('d1', 'after-poison', now), { msgId: 'ok-1' });
    await waitFor(async () => (await counts(db)).rows === 3001, { timeoutMs: 10_000 });
    const dlq = await bus.jsm.streams.info(bus.naming.stream('DLQ'), { subjects_filter: '>' });
    const subjectDlq = dlqSubject(bus.naming, 'TELEMETRY', 'telemetry-ingest');
    await waitFor(async () => {
      const info = await bus.jsm.streams.info(bus.naming.stream('DLQ'), { subjects_filter: '>' });
      return info.state.subjects?.[subjectDlq] === 2;
    });
    expect(dlq.config.name).toBe(bus.naming.stream('DLQ'));
  });

  it('partitions by day, creates ahead and drops whole partitions past retention', async () => {
    const old = now - 40 * DAY;
    const oldName = `telemetry_p${new Date(old).toISOString().slice(0, 10).replaceAll('-', '')}`;
    const oldStart = Math.floor(old / DAY) * DAY;
    await sql`CREATE TABLE ${sql.id(oldName)} PARTITION OF telemetry
      FOR VALUES FROM (${sql.lit(new Date(oldStart).toISOString())})
      TO (${sql.lit(new Date(oldStart + DAY).toISOString())})`.execute(db);
    const parts = async () =>
      (
        await sql<{ name: string }>`SELECT c.relname AS name FROM pg_inherits i
          JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = ${schema} ORDER BY 1`.execute(db)
      ).rows.map((r) => r.name);
    expect(await parts()).toContain(oldName);
    await ingest.maintain();
    const after = await parts();
    expect(after).not.toContain(
      `telemetry_p${new Date(old).toISOString().slice(0, 10).replaceAll('-', '')}`,
    );
    const today = new Date(now).toISOString().slice(0, 10).replaceAll('-', '');
    const ahead = new Date(now + 3 * DAY).toISOString().slice(0, 10).replaceAll('-', '');
    expect(after).toEqual(expect.arrayContaining([`telemetry_p${today}`, `telemetry_p${ahead}`]));
  });

  it('answers raw pages, date_bin buckets and latest values over RPC', async () => {
    const from = new Date(now - 3000).toISOString();
    const to = new Date(now + 1).toISOString();
    const page1 = await rpcRequest<{
      items: { msg_id: string; ts: string }[];
      next_cursor: string;
    }>(bus, 'telemetry-ingest', 'query_raw', {
      tenant: 'acme',
      device_id: 'd3',
      from,
      to,
      limit: 200,
    });
    expect(page1.items).toHaveLength(200);
    expect(page1.items[0]?.msg_id).toBe('m3');
    const page2 = await rpcRequest<{ items: unknown[]; next_cursor: string | null }>(
      bus,
      'telemetry-ingest',
      'query_raw',
      { tenant: 'acme', device_id: 'd3', from, to, limit: 200, cursor: page1.next_cursor },
    );
    expect(page2.items).toHaveLength(100);
    expect(page2.next_cursor).toBeNull();
    const other = await rpcRequest<{ items: unknown[] }>(bus, 'telemetry-ingest', 'query_raw', {
      tenant: 'globex',
      device_id: 'd3',
      from,
      to,
    });
    expect(other.items).toHaveLength(0);

    const buckets = async (agg: string) =>
      rpcRequest<{ items: { ts: string; value: number }[] }>(
        bus,
        'telemetry-ingest',
        'query_buckets',
        {
          tenant: 'acme',
          device_id: 'd3',
          from,
          to,
          metric: 'v',
          bucket: '1d',
          agg,
        },
      );
    const sum = (await buckets('sum')).items.reduce((a, b) => a + b.value, 0);
    const count = (await buckets('count')).items.reduce((a, b) => a + b.value, 0);
    // d3 holds v = 3, 13, …, 2993: 300 values.
    expect(count).toBe(300);
    expect(sum).toBe((300 * (3 + 2993)) / 2);
    const max = Math.max(...(await buckets('max')).items.map((b) => b.value));
    expect(max).toBe(2993);
    await expect(
      rpcRequest(bus, 'telemetry-ingest', 'query_buckets', {
        tenant: 'acme',
        device_id: 'd3',
        from,
        to,
        metric: 'v',
        bucket: '1w',
        agg: 'avg',
      }),
    ).rejects.toMatchObject({ code: 'invalid_bucket' });

    const latest = await rpcRequest<{ msg_id: string }>(bus, 'telemetry-ingest', 'get_latest', {
      tenant: 'acme',
      device_id: 'd3',
    });
    expect(latest.msg_id).toBe('m2993');
  });
});
