// The outbox relay over the bus's JetStream pipeline, against the real Postgres and NATS: id
// order across in-flight windows with the rows' headers, only the acked prefix marked sent when
// a publish fails mid-window, duplicates counted as sent, a failed message never overtaken by a
// later one of its order key, the lock folded into the select, and notifies coalescing into one
// batch.
import { Kysely, PostgresDialect } from 'kysely';
import { createPool, migrate } from '@drover/db';
import {
  cleanupNamespace,
  createTestDb,
  dropTestDb,
  TEST_DATABASE_URL,
  testNamespace,
  waitFor,
  withTestBus,
} from '@drover/testing';
import {
  enqueueMessages,
  HEADERS,
  outboxMigration,
  startOutboxRelay,
  type Bus,
  type OutboxDb,
  type OutboxMessage,
} from '../../src';

jest.setTimeout(60_000);

describe('outbox relay over the pipeline', () => {
  const ns = testNamespace('relaypipe');
  const schema = `${ns}_svc`;
  let bus: Bus;
  let db: Kysely<OutboxDb>;
  const stream = () => bus.naming.stream('DEVICE');

  beforeAll(async () => {
    bus = await withTestBus(ns);
    db = await createTestDb<OutboxDb>(schema);
    await migrate(db as Kysely<unknown>, {
      schema,
      migrations: { '202611260600_outbox': outboxMigration },
    });
  });

  afterAll(async () => {
    await dropTestDb(db, schema);
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  afterEach(async () => {
    // Every test starts from an empty outbox, whatever a failed one left behind.
    await db.deleteFrom('outbox').execute();
  });

  const message = (label: string, i: number): OutboxMessage => ({
    subject: `iot.device.acme.${label}.d${i % 3}`,
    msgId: `${label}-${i}`,
    payload: { label, i },
    headers: { [HEADERS.correlationId]: `corr-${label}-${i}`, traceparent: `00-${i}` },
  });

  const enqueue = (msgs: OutboxMessage[]) =>
    db.transaction().execute((trx) => enqueueMessages(trx, msgs));

  /** Message ids stored in the DEVICE stream under `label`, in stream order. */
  const storedIds = async (label: string): Promise<string[]> => {
    const info = await bus.jsm.streams.info(stream());
    const ids: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(stream(), { seq });
      if (m.subject.includes(`.${label}.`)) ids.push(m.header.get(HEADERS.msgId));
    }
    return ids;
  };

  const unsent = async () =>
    (
      await db
        .selectFrom('outbox')
        .select('event_id')
        .where('sent_at', 'is', null)
        .orderBy('id')
        .execute()
    ).map((r) => r.event_id);

  it('keeps id order across batches and windows, with the rows headers', async () => {
    const msgs = Array.from({ length: 95 }, (_, i) => message('order', i));
    await enqueue(msgs.slice(0, 40));
    await enqueue(msgs.slice(40));
    const batches: number[] = [];
    const relay = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      batchSize: 30,
      maxInFlight: 7,
      beforeMarkSent: (ids) => {
        batches.push(ids.length);
      },
    });
    try {
      expect(await relay.flushOnce()).toBe(95);
    } finally {
      await relay.stop();
    }
    expect(batches).toEqual([30, 30, 30, 5]);
    expect(await storedIds('order')).toEqual(msgs.map((m) => m.msgId));
    expect(await unsent()).toEqual([]);
    const info = await bus.jsm.streams.info(stream());
    const first = await bus.jsm.streams.getMessage(stream(), { seq: info.state.first_seq });
    expect(first.subject).toBe(bus.naming.subject('iot.device.acme.order.d0'));
    expect(first.header.get(HEADERS.correlationId)).toBe('corr-order-0');
    expect(first.header.get('traceparent')).toBe('00-0');
    expect(first.json()).toEqual({ label: 'order', i: 0 });
  });

  it('marks only the acked prefix when a publish fails mid-window; duplicates count as sent', async () => {
    // Each message is about a device of its own (its CloudEvents subject), so all are in flight.
    const about = (m: OutboxMessage): OutboxMessage => ({ ...m, payload: { subject: m.msgId } });
    const before = Array.from({ length: 5 }, (_, i) => about(message('fail', i)));
    // No stream captures this subject: the publish fails (no responders, or a timeout).
    const lost: OutboxMessage = { subject: 'iot.nowhere.x', msgId: 'fail-lost', payload: {} };
    const after = Array.from({ length: 5 }, (_, i) => about(message('fail', 10 + i)));
    await enqueue([...before, lost, ...after]);
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000, batchSize: 50, maxInFlight: 16 });
    try {
      expect(await relay.flushOnce()).toBe(5);
      expect(await unsent()).toEqual(['fail-lost', ...after.map((m) => m.msgId)]);
      // The rows behind the failed one were in flight in the same window: stored already.
      expect(await storedIds('fail')).toEqual([...before, ...after].map((m) => m.msgId));

      await db.deleteFrom('outbox').where('event_id', '=', 'fail-lost').execute();
      // Republished, they are duplicates for the stream, and still marked sent.
      expect(await relay.flushOnce()).toBe(5);
    } finally {
      await relay.stop();
    }
    expect(await unsent()).toEqual([]);
    expect(await storedIds('fail')).toEqual([...before, ...after].map((m) => m.msgId));
  });

  it("never sends a later message of a failed one's order key; other keys go past", async () => {
    // Device a's events with a failing one among them, and device b's; all in one window.
    const event = (id: string, device: string, subject = `iot.device.acme.key.${id}`) => ({
      subject,
      msgId: id,
      payload: { subject: device, id },
    });
    const a1 = event('key-a1', 'a');
    // No stream captures this subject: its publish fails.
    const aLost = event('key-a-lost', 'a', 'iot.nowhere.z');
    const a2 = event('key-a2', 'a');
    const b1 = event('key-b1', 'b');
    const b2 = event('key-b2', 'b');
    await enqueue([a1, aLost, a2, b1, b2]);
    const relay = startOutboxRelay({ db, bus, pollMs: 60_000, batchSize: 50, maxInFlight: 16 });
    try {
      expect(await relay.flushOnce()).toBe(1);
      const stored = await storedIds('key');
      // a2 waited for the failed event of its device and was never sent; b1 went past it (b2
      // too, when b1's ack came before the failure).
      expect(stored).not.toContain('key-a2');
      expect(stored.filter((id) => id !== 'key-b2')).toEqual(['key-a1', 'key-b1']);
      expect(await unsent()).toEqual(['key-a-lost', 'key-a2', 'key-b1', 'key-b2']);

      await db.deleteFrom('outbox').where('event_id', '=', 'key-a-lost').execute();
      expect(await relay.flushOnce()).toBe(3);
    } finally {
      await relay.stop();
    }
    expect(await unsent()).toEqual([]);
    const stored = await storedIds('key');
    expect(stored.filter((id) => id.startsWith('key-a'))).toEqual(['key-a1', 'key-a2']);
    expect(stored.filter((id) => id.startsWith('key-b'))).toEqual(['key-b1', 'key-b2']);
  });

  it('publishes nothing while another relay holds the lock', async () => {
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const first = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      beforeMarkSent: async () => {
        holding();
        await released;
      },
    });
    const secondMarked: string[][] = [];
    const second = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      beforeMarkSent: (ids) => {
        secondMarked.push(ids);
      },
    });
    try {
      // Their start-up flushes, on the empty outbox.
      await Promise.all([first.flushOnce(), second.flushOnce()]);
      await enqueue([message('lock', 0)]);
      const firstDone = first.flushOnce();
      await held;
      // Committed while the first relay is mid-batch: only a relay ignoring the lock sends it.
      await enqueue([message('lock', 1)]);
      expect(await second.flushOnce()).toBe(0);
      expect(secondMarked).toEqual([]);
      expect(await storedIds('lock')).toEqual(['lock-0']);
      release();
      expect(await firstDone).toBe(1);
      expect(await second.flushOnce()).toBe(1);
    } finally {
      release();
      await first.stop();
      await second.stop();
    }
    expect(await storedIds('lock')).toEqual(['lock-0', 'lock-1']);
  });

  it('folds the notifies of a busy moment into one batch', async () => {
    const batches: number[] = [];
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const held = new Promise<void>((resolve) => (holding = resolve));
    const relay = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      beforeMarkSent: async (ids) => {
        batches.push(ids.length);
        if (batches.length === 1) {
          holding();
          await released;
        }
      },
    });
    try {
      await relay.flushOnce(); // the start-up flush of an empty outbox
      await enqueue([message('burst', 0)]);
      relay.notify();
      await held;
      // While that batch is in flight, 20 writers commit and each notifies.
      for (let i = 1; i <= 20; i++) {
        await enqueue([message('burst', i)]);
        relay.notify();
      }
      release();
      // Joins the flush in progress, which goes on with one batch for the 20.
      expect(await relay.flushOnce()).toBe(21);
      // 20 more notifies in one event-loop turn on an idle relay: one flush at once.
      for (let i = 21; i <= 40; i++) await enqueue([message('burst', i)]);
      for (let i = 21; i <= 40; i++) relay.notify();
      await waitFor(async () => (await unsent()).length === 0);
    } finally {
      release();
      await relay.stop();
    }
    expect(batches).toEqual([1, 20, 20]);
    expect(await unsent()).toEqual([]);
  });

  it('on a Kysely that createDb did not make (no raw pool), keeps the same guarantees', async () => {
    const own = new Kysely<OutboxDb>({
      dialect: new PostgresDialect({ pool: createPool({ url: TEST_DATABASE_URL, schema }) }),
    });
    const first = Array.from({ length: 30 }, (_, i) => message('kysely', i));
    const lost: OutboxMessage = { subject: 'iot.nowhere.y', msgId: 'kysely-lost', payload: {} };
    const rest = Array.from({ length: 5 }, (_, i) => message('kysely', 30 + i));
    await enqueue([...first, lost, ...rest]);
    const relay = startOutboxRelay({ db: own, bus, pollMs: 60_000, batchSize: 20, maxInFlight: 8 });
    try {
      expect(await relay.flushOnce()).toBe(30);
      expect(await unsent()).toEqual(['kysely-lost', ...rest.map((m) => m.msgId)]);
      await db.deleteFrom('outbox').where('event_id', '=', 'kysely-lost').execute();
      expect(await relay.flushOnce()).toBe(5);
    } finally {
      await relay.stop();
      await own.destroy();
    }
    expect(await unsent()).toEqual([]);
    expect(await storedIds('kysely')).toEqual([...first, ...rest].map((m) => m.msgId));
  });

  it('with deleteSent, deletes the acked prefix instead of marking it (raw pool and Kysely)', async () => {
    const first = Array.from({ length: 8 }, (_, i) => message('delsent', i));
    const lost: OutboxMessage = { subject: 'iot.nowhere.z', msgId: 'delsent-lost', payload: {} };
    const rest = Array.from({ length: 3 }, (_, i) => message('delsent', 20 + i));
    await enqueue([...first, lost, ...rest]);
    const own = new Kysely<OutboxDb>({
      dialect: new PostgresDialect({ pool: createPool({ url: TEST_DATABASE_URL, schema }) }),
    });
    const left = async () =>
      (await db.selectFrom('outbox').select('event_id').orderBy('id').execute()).map(
        (r) => r.event_id,
      );
    const raw = startOutboxRelay({ db, bus, pollMs: 60_000, maxInFlight: 1, deleteSent: true });
    try {
      expect(await raw.flushOnce()).toBe(8);
      // The acked rows are gone; the failed one and those behind it stay, unsent.
      expect(await left()).toEqual(['delsent-lost', ...rest.map((m) => m.msgId)]);
      expect(await unsent()).toEqual(['delsent-lost', ...rest.map((m) => m.msgId)]);
    } finally {
      await raw.stop();
    }
    await db.deleteFrom('outbox').where('event_id', '=', 'delsent-lost').execute();
    const viaKysely = startOutboxRelay({ db: own, bus, pollMs: 60_000, deleteSent: true });
    try {
      expect(await viaKysely.flushOnce()).toBe(3);
      expect(await left()).toEqual([]);
    } finally {
      await viaKysely.stop();
      await own.destroy();
    }
    expect(await storedIds('delsent')).toEqual([...first, ...rest].map((m) => m.msgId));
  });

  it('deletes sent rows once they are older than the retention, never unsent ones', async () => {
    const old = Array.from({ length: 6 }, (_, i) => message('prune', i));
    await enqueue(old);
    const relay = startOutboxRelay({
      db,
      bus,
      pollMs: 60_000,
      retentionMs: 300,
      pruneEveryMs: 60_000,
    });
    try {
      expect(await relay.flushOnce()).toBe(6);
      // One old row as if its publish had not been marked yet: it must stay.
      await db
        .updateTable('outbox')
        .set({ sent_at: null })
        .where('event_id', '=', 'prune-2')
        .execute();
      // Nothing is old enough yet: the first prune only notes the highest id.
      expect(await relay.pruneOnce()).toBe(0);
      await enqueue(Array.from({ length: 2 }, (_, i) => message('prune', 10 + i)));
      // Once the noted id is older than the retention, the sent rows up to it go; the unsent
      // one and the rows written after the note stay.
      const deleted = await waitFor(() => relay.pruneOnce(), { timeoutMs: 10_000 });
      expect(deleted).toBe(5);
      const left = await db.selectFrom('outbox').select('event_id').orderBy('id').execute();
      expect(left.map((r) => r.event_id)).toEqual(['prune-2', 'prune-10', 'prune-11']);
    } finally {
      await relay.stop();
    }
  });
});
