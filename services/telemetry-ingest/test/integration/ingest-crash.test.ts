// kill -9 of telemetry-ingest mid-stream, then a restart: every message is stored, none twice.
import { type ChildProcess } from 'node:child_process';
import { type Kysely } from 'kysely';
import { type Bus } from '@drover/bus';
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
import { killChild, spawnIngest } from './child/ingest.child';
import { counts, publishTelemetry } from './ingest.harness';

jest.setTimeout(180_000);

describe('telemetry-ingest killed with SIGKILL mid-stream', () => {
  const ns = testNamespace('ingkill');
  const schema = `${ns}_tel`;
  let bus: Bus;
  let db: Kysely<unknown>;
  let child: ChildProcess | null = null;
  const env = {
    NATS_URL: TEST_NATS_URL,
    DATABASE_URL: TEST_DATABASE_URL,
    REDIS_URL: TEST_REDIS_URL,
    DROVER_NAMESPACE: ns,
    DB_SCHEMA: schema,
    DB_POOL_MAX: '3',
    ENSURE_STREAMS: 'false',
    OPS_PORT: '0',
    // Small batches so the kill lands between commits; short ack wait so the restart gets the
    // unacknowledged messages back quickly.
    BATCH_MAX_ROWS: '200',
    ACK_WAIT_MS: '3000',
  };

  beforeAll(async () => {
    bus = await withTestBus(ns);
    db = await createTestDb(schema);
  });
  afterAll(async () => {
    if (child) await killChild(child, 'SIGKILL');
    await dropTestDb(db, schema);
    await cleanupNamespace(ns, { bus });
    await bus.close();
  });

  it('loses nothing and duplicates nothing', async () => {
    const total = 10_000;
    const publishing = publishTelemetry(bus, { devices: 50, count: total });
    child = await spawnIngest(env);
    await waitFor(async () => (await counts(db)).rows >= 1000, { timeoutMs: 60_000 });
    await killChild(child, 'SIGKILL');
    const atKill = (await counts(db)).rows;
    expect(atKill).toBeLessThan(total);
    await publishing;
    child = await spawnIngest(env);
    await waitFor(async () => (await counts(db)).rows >= total, {
      timeoutMs: 90_000,
      intervalMs: 250,
    });
    expect(await counts(db)).toEqual({ rows: total, distinct: total });
    await killChild(child, 'SIGTERM');
    expect(child.exitCode).toBe(0);
    child = null;
  });
});
