// A private Postgres stopped for 20 s mid-stream: the backlog waits in JetStream (the rows'
// messages stay unacknowledged) and drains once the database is back; nothing is lost.
import { type Kysely } from 'kysely';
import { type Bus } from '@drover/bus';
import { createLogger } from '@drover/observability';
import {
  type PrivatePostgres,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  startPrivatePostgres,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import { type TelemetryIngest, startTelemetryIngest } from '../../src/app';
import { loadIngestConfig } from '../../src/config';
import { counts, publishTelemetry } from './ingest.harness';

jest.setTimeout(300_000);
const silent = createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

describe('telemetry-ingest across a Postgres outage', () => {
  const ns = testNamespace('ingpg');
  const schema = `${ns}_tel`;
  let pg: PrivatePostgres;
  let bus: Bus;
  let db: Kysely<unknown>;
  let ingest: TelemetryIngest | null = null;

  beforeAll(async () => {
    pg = await startPrivatePostgres();
    bus = await withTestBus(ns);
    ingest = await startTelemetryIngest(
      loadIngestConfig({
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: pg.url,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: schema,
        DB_POOL_MAX: '3',
        ENSURE_STREAMS: 'false',
        ACK_WAIT_MS: '5000',
        OPS_PORT: '0',
      }),
      { logger: silent },
    );
    db = await createTestDb(schema, { url: pg.url, poolMax: 1 });
  });
  afterAll(async () => {
    await ingest?.stop();
    await dropTestDb(db, schema).catch((err: unknown) => silent.warn({ err }, 'drop failed'));
    await pg?.destroy();
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('drains the backlog after the database comes back', async () => {
    const total = 6000;
    let published = 0;
    const publishing = (async () => {
      while (published < total) {
        await publishTelemetry(bus, { devices: 20, count: 100, start: published });
        published += 100;
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    await waitFor(async () => (await counts(db)).rows >= 1000, { timeoutMs: 30_000 });
    await pg.stop();
    const publishedAtStop = published;
    // The outage itself is the scenario: 20 s with the database down while devices keep sending.
    await new Promise((r) => setTimeout(r, 20_000));
    expect(published).toBeGreaterThan(publishedAtStop);
    await pg.start();
    await publishing;
    // Draining is what is tested, not its speed: the whole suite may load the machine meanwhile.
    await waitFor(async () => (await counts(db)).rows >= total, {
      timeoutMs: 150_000,
      intervalMs: 250,
    });
    expect(await counts(db)).toEqual({ rows: total, distinct: total });
    const retries = ingest!.metrics.registry.getSingleMetric(
      'drover_telemetry_write_retries_total',
    );
    expect((await retries!.get()).values[0]?.value).toBeGreaterThan(0);
  });
});
