import { sql, type Kysely } from 'kysely';
import { desiredSubject, eventSubject } from '@drover/contracts';
import { migrate } from '@drover/db';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import {
  consume,
  enqueueEvents,
  enqueueMessages,
  outboxMigration,
  startOutboxRelay,
  type Bus,
  type BusMessage,
  type Consumer,
  type OutboxDb,
} from '../../src';
import { OUTBOX_LOCK_CLASS } from '../../src/outbox-relay';
import { registeredEvent } from './helpers';

describe('outbox', () => {
  const ns = testNamespace('outbox');
  const schema = `${ns}_svc`;
  let bus: Bus;
  let db: Kysely<OutboxDb>;
  let consumer: Consumer;
  const seen: BusMessage[] = [];
  const seenIds = (tenant: string) =>
    seen.filter((m) => m.json<{ tenant?: string }>().tenant === tenant).map((m) => m.msgId);

  beforeAll(async () => {
    bus = await withTestBus(ns);
    db = await createTestDb<OutboxDb>(schema);
    await migrate(db as Kysely<unknown>, {
      schema,
      migrations: { '202611260600_outbox': outboxMigration },
    });
    consumer = await consume(bus, {
      stream: 'EVENTS',
      durable: 'outbox-test',
      handler: async (m) => {
        seen.push(m);
      },
    });
  });

  afterAll(async () => {
    await consumer.stop();
    await dropTestDb(db, schema);
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('creates the outbox table with a partial index on unsent rows', async () => {
    const idx = await sql<{ indexdef: string }>`
      select indexdef from pg_indexes where schemaname = ${schema} and indexname = 'outbox_unsent_idx'
    `.execute(db);
    expect(idx.rows[0]?.indexdef).toMatch(/WHERE \(sent_at IS NULL\)/);
  });

  it('publishes committed events in id order with msgId = event id, and marks them sent', async () => {
    const events = ['a', 'b', 'c'].map((d) => registeredEvent('order', d));
    await db.transaction().execute((trx) => enqueueEvents(trx, events.slice(0, 2)));
    await db.transaction().execute((trx) => enqueueEvents(trx, events.slice(2)));
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000 });
    try {
      await waitFor(() => seenIds('order').length === 3);
    } finally {
      await relay.stop();
    }
    expect(seenIds('order')).toEqual(events.map((e) => e.id));
    expect(seen.find((m) => m.msgId === events[0]!.id)!.subject).toBe(
      eventSubject(bus.naming, 'order', 'device', 'registered'),
    );
    const unsent = await db
      .selectFrom('outbox')
      .select('id')
      .where('sent_at', 'is', null)
      .execute();
    expect(unsent).toEqual([]);
  });

  it('with maxInFlight > 1 still publishes in id order and marks every row sent', async () => {
    const events = Array.from({ length: 120 }, (_, i) => registeredEvent('window', `w${i}`));
    await db.transaction().execute((trx) => enqueueEvents(trx, events.slice(0, 70)));
    await db.transaction().execute((trx) => enqueueEvents(trx, events.slice(70)));
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000, batchSize: 50, maxInFlight: 16 });
    try {
      expect(await relay.flushOnce()).toBe(120);
      await waitFor(() => seenIds('window').length === 120);
    } finally {
      await relay.stop();
    }
    expect(seenIds('window')).toEqual(events.map((e) => e.id));
    const unsent = await db
      .selectFrom('outbox')
      .select('id')
      .where('sent_at', 'is', null)
      .execute();
    expect(unsent).toEqual([]);
  });

  it('publishes nothing for a rolled-back transaction', async () => {
    const lost = registeredEvent('rollback', 'lost');
    const kept = registeredEvent('rollback', 'kept');
    await expect(
      db.transaction().execute(async (trx) => {
        await enqueueEvents(trx, [lost]);
        throw new Error('use case failed');
      }),
    ).rejects.toThrow('use case failed');
    await db.transaction().execute((trx) => enqueueEvents(trx, [kept]));
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000 });
    try {
      // Rows go out in id order, so once `kept` is seen the rolled-back one would have been too.
      await waitFor(() => seenIds('rollback').includes(kept.id));
    } finally {
      await relay.stop();
    }
    expect(seenIds('rollback')).toEqual([kept.id]);
    const rows = await db.selectFrom('outbox').select('event_id').execute();
    expect(rows.map((r) => r.event_id)).not.toContain(lost.id);
  });

  it('a relay dying after publish and before mark-sent: the event still goes out, once', async () => {
    const event = registeredEvent('crash', 'd1');
    const after = registeredEvent('crash', 'd2');
    await db.transaction().execute((trx) => enqueueEvents(trx, [event]));
    const dying = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      beforeMarkSent: () => {
        throw new Error('killed between publish and commit');
      },
    });
    await expect(dying.flushOnce()).rejects.toThrow('killed between publish and commit');
    await dying.stop();
    const row = await db
      .selectFrom('outbox')
      .select('sent_at')
      .where('event_id', '=', event.id)
      .executeTakeFirstOrThrow();
    expect(row.sent_at).toBeNull();

    await db.transaction().execute((trx) => enqueueEvents(trx, [after]));
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000 });
    try {
      await waitFor(() => seenIds('crash').includes(after.id));
    } finally {
      await relay.stop();
    }
    expect(seenIds('crash')).toEqual([event.id, after.id]);
  });

  it('lets only one relay publish at a time (advisory lock)', async () => {
    const event = registeredEvent('lock', 'd1');
    await db.transaction().execute((trx) => enqueueEvents(trx, [event]));
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000 });
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let locked!: () => void;
    const holding = new Promise<void>((resolve) => (locked = resolve));
    const holder = db.transaction().execute(async (trx) => {
      await sql`select pg_advisory_xact_lock(${OUTBOX_LOCK_CLASS}, hashtext(current_schema()))`.execute(
        trx,
      );
      locked();
      await released;
    });
    try {
      await holding;
      expect(await relay.flushOnce()).toBe(0);
      release();
      await holder;
      expect(await relay.flushOnce()).toBe(1);
    } finally {
      release();
      await relay.stop();
    }
    await waitFor(() => seenIds('lock').includes(event.id));
  });

  it('enqueueMessages sends non-event messages (desired state) and notify() flushes at once', async () => {
    const subject = desiredSubject(bus.naming, 'acme', 'd9');
    const got: BusMessage[] = [];
    const cmds = await consume(bus, {
      stream: 'COMMANDS',
      durable: 'desired-test',
      handler: async (m) => {
        got.push(m);
      },
    });
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000 });
    try {
      await relay.flushOnce();
      await db
        .transaction()
        .execute((trx) =>
          enqueueMessages(trx, [{ subject, msgId: 'desired-d9-v3', payload: { version: 3 } }]),
        );
      relay.notify();
      await waitFor(() => got.length === 1, { timeoutMs: 5000 });
    } finally {
      await relay.stop();
      await cmds.stop();
    }
    expect(got[0]).toMatchObject({ subject, msgId: 'desired-d9-v3' });
    expect(got[0]!.json()).toEqual({ version: 3 });
  });
});
