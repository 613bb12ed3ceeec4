// Batched TELEMETRY messages (`{"batch": [...]}` on `…telemetry.<tenant>.<type>._batch`, as the
// ingress writes them with TELEMETRY_BATCH_MAX > 1): every record becomes one row, a batch
// replayed under another id adds nothing, and a batch with a bad record keeps its good ones and
// goes to the DLQ for the bad one.
import { type Kysely } from 'kysely';
import { type Bus, publish } from '@drover/bus';
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
import { counts, telemetryMessage } from './ingest.harness';

jest.setTimeout(60_000);
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('telemetry-ingest with batched messages', () => {
  const ns = testNamespace('ingb');
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
        // Small batches: one message's records span several inserts.
        BATCH_MAX_ROWS: '50',
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

  const batchSubject = () => telemetrySubject(bus.naming, 'acme', 'sensor', '_batch');
  const records = (from: number, n: number) =>
    Array.from({ length: n }, (_, i) =>
      telemetryMessage(`d${(from + i) % 7}`, `m${from + i}`, now - 5000 + from + i, { v: i }),
    );
  const counter = async (name: string) =>
    (await ingest.metrics.registry.getSingleMetric(name)!.get()).values.reduce(
      (a, v) => a + v.value,
      0,
    );

  it('stores every record of every batch once, replays included', async () => {
    await Promise.all(
      [0, 1, 2, 3].map((b) =>
        publish(bus, batchSubject(), { batch: records(b * 120, 120) }, { msgId: `b${b}` }),
      ),
    );
    await waitFor(async () => (await counts(db)).rows === 480, { timeoutMs: 30_000 });
    // The same records regrouped (as after an ingress retry): the table's key keeps one each.
    await publish(bus, batchSubject(), { batch: records(100, 200) }, { msgId: 'regrouped' });
    await waitFor(async () => (await counter('drover_telemetry_duplicates_total')) === 200, {
      timeoutMs: 20_000,
    });
    expect(await counts(db)).toEqual({ rows: 480, distinct: 480 });
    expect(await counter('drover_telemetry_messages_in_total')).toBe(680);
  });

  it('keeps the good records of a batch with a bad one and dead-letters the message', async () => {
    const bad = { ...telemetryMessage('d1', 'bad', now), ts: 'never' };
    const batch = [...records(1000, 3), bad, ...records(1003, 2)];
    await publish(bus, batchSubject(), { batch }, { msgId: 'with-bad' });
    await waitFor(async () => (await counts(db)).rows === 485, { timeoutMs: 20_000 });
    const subjectDlq = dlqSubject(bus.naming, 'TELEMETRY', 'telemetry-ingest');
    await waitFor(async () => {
      const info = await bus.jsm.streams.info(bus.naming.stream('DLQ'), { subjects_filter: '>' });
      return info.state.subjects?.[subjectDlq] === 1;
    });
    const dead = await bus.jsm.streams.getMessage(bus.naming.stream('DLQ'), {
      last_by_subj: subjectDlq,
    });
    expect(JSON.stringify(dead.json())).toMatch(/batch\[3\]: bad ts or received_at/);
    expect(await counter('drover_telemetry_messages_rejected_total')).toBe(1);
  });
});
