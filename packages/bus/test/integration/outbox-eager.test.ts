// Eager publishing (`publishAfterCommit`) against the real Postgres and NATS: a writer's rows go
// out right after its commit without a relay pass and are marked sent; rows it did not insert
// and rows of a failed write are left to the relay; a relay pass skips claimed rows (no
// duplicate in the stream); after a failed eager publish the relay publishes everything until
// it has caught up, then eager publishing resumes.
import { type Kysely, sql } from 'kysely';
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
  HEADERS,
  outboxBatch,
  outboxBatchLine,
  outboxBatchMigration,
  outboxMigration,
  outboxRows,
  startOutboxRelay,
  type Bus,
  type OutboxBatchRow,
  type OutboxDb,
  type OutboxInsertRow,
  type OutboxMessage,
  type OutboxRelay,
} from '../../src';

jest.setTimeout(60_000);

describe('outbox eager publishing', () => {
  const ns = testNamespace('eager');
  const schema = `${ns}_svc`;
  let bus: Bus;
  let db: Kysely<OutboxDb>;
  let relay: OutboxRelay | null = null;
  const stream = () => bus.naming.stream('DEVICE');

  beforeAll(async () => {
    bus = await withTestBus(ns);
    db = await createTestDb<OutboxDb>(schema);
    await migrate(db as Kysely<unknown>, {
      schema,
      migrations: {
        '202611260600_outbox': outboxMigration,
        '202611271000_outbox_batches': outboxBatchMigration,
      },
    });
  });

  afterAll(async () => {
    await dropTestDb(db, schema);
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  afterEach(async () => {
    await relay?.stop();
    relay = null;
    await db.deleteFrom('outbox').execute();
  });

  // A relay that never polls: only notifies and explicit passes publish. Its first pass starts
  // on a timer at once; it is awaited here, else on a slow machine it could still be reading
  // while the test writes, and publish rows the test expects to find unpublished.
  const quietRelay = async (
    more: { batches?: boolean; deleteSent?: boolean; batchBytes?: number } = {},
  ): Promise<OutboxRelay> => {
    const r = (relay = startOutboxRelay({ db, bus, pollMs: 60_000, batchSize: 50, ...more }));
    // Timers of one delay fire in the order they were set: the relay's first tick has begun.
    await new Promise((resolve) => setTimeout(resolve, 0));
    await r.flushOnce();
    return r;
  };

  const message = (label: string, i: number): OutboxMessage => ({
    subject: `iot.device.acme.${label}.d${i % 3}`,
    msgId: `${label}-${i}`,
    payload: { label, i },
    headers: { [HEADERS.correlationId]: `corr-${label}-${i}` },
  });
  const rowsOf = (label: string, n: number): OutboxInsertRow[] =>
    outboxRows(Array.from({ length: n }, (_, i) => message(label, i)));

  /** Inserts rows in one transaction, as a service's write would. */
  const insert = (rows: OutboxInsertRow[]) =>
    db.transaction().execute(async (trx) => {
      for (const r of rows) {
        await sql`insert into outbox (event_id, subject, payload, headers)
          values (${r.event_id}, ${r.subject}, ${r.payload}::jsonb, ${r.headers}::jsonb)`.execute(
          trx,
        );
      }
      return rows.length;
    });

  /** Once every row is gone (a relay with `deleteSent`). */
  const outboxEmptied = () =>
    waitFor(async () => (await db.selectFrom('outbox').select('id').execute()).length === 0, {
      timeoutMs: 10_000,
    });

  /** Inserts a batch row holding `messages`, as the gateway's statements do. */
  const insertBatch = (row: OutboxBatchRow, messages = row.messages) =>
    sql`insert into outbox (event_id, batch)
      values (${row.event_id}, ${messages.map(outboxBatchLine).join('\n')})`.execute(db);

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

  it('publishes a writer’s rows right after its commit, in order, and marks them sent', async () => {
    const r = await quietRelay();
    const rows = rowsOf('eager', 12);
    const n = await r.publishAfterCommit(
      rows,
      () => insert(rows),
      () => rows,
    );
    expect(n).toBe(12);
    await waitFor(async () => (await unsent()).length === 0, { timeoutMs: 10_000 });
    expect(await storedIds('eager')).toEqual(rows.map((x) => x.event_id));
    expect(r.eagerStats.published).toBe(12);
    expect(r.eagerStats.marks).toBeGreaterThanOrEqual(1);
    // Nothing left for a relay pass.
    expect(await r.flushOnce()).toBe(0);
    const first = await bus.jsm.streams.getMessage(stream(), {
      last_by_subj: bus.naming.subject('iot.device.acme.eager.d0'),
    });
    expect(first.header.get(HEADERS.correlationId)).toBe('corr-eager-9');
    expect(first.json()).toEqual({ label: 'eager', i: 9 });
  });

  it('with deleteSent, deletes a writer’s rows once acked instead of marking them', async () => {
    const r = await quietRelay({ deleteSent: true });
    const rows = rowsOf('eagerdel', 5);
    await r.publishAfterCommit(
      rows,
      () => insert(rows),
      () => rows,
    );
    await outboxEmptied();
    expect(r.eagerStats.published).toBe(5);
    expect(await storedIds('eagerdel')).toEqual(rows.map((x) => x.event_id));
    expect(await r.flushOnce()).toBe(0);
  });

  it('leaves the rows the write did not insert, and those of a failed write, to the relay', async () => {
    const r = await quietRelay();
    const rows = rowsOf('partial', 4);
    // The write inserts all four but says it inserted only the first two (as a statement that
    // skipped some would): the other two are the relay's.
    await r.publishAfterCommit(
      rows,
      () => insert(rows),
      () => rows.slice(0, 2),
    );
    await waitFor(async () => (await unsent()).length === 2, { timeoutMs: 10_000 });
    expect(await unsent()).toEqual(['partial-2', 'partial-3']);
    const failing = rowsOf('failed', 2);
    await expect(
      r.publishAfterCommit(
        failing,
        async () => {
          await insert(failing);
          throw new Error('write failed after its insert committed');
        },
        () => failing,
      ),
    ).rejects.toThrow('write failed');
    expect(r.eagerStats.published).toBe(2);
    // Unclaimed again: a relay pass publishes them.
    expect(await r.flushOnce()).toBe(4);
    expect(await storedIds('partial')).toEqual(rows.map((x) => x.event_id));
    expect(await storedIds('failed')).toEqual(failing.map((x) => x.event_id));
  });

  it('a relay pass skips rows an eager writer claimed: each is stored once', async () => {
    const r = await quietRelay();
    const rows = rowsOf('claimed', 5);
    let passSent = -1;
    await r.publishAfterCommit(
      rows,
      async () => {
        const n = await insert(rows);
        // Committed, not yet published: a pass now must leave them alone.
        passSent = await r.flushOnce();
        return n;
      },
      () => rows,
    );
    expect(passSent).toBe(0);
    expect(r.eagerStats.skipped).toBe(5);
    await waitFor(async () => (await unsent()).length === 0, { timeoutMs: 10_000 });
    expect(await storedIds('claimed')).toEqual(rows.map((x) => x.event_id));
  });

  it('after a failed eager publish the relay publishes until it caught up, then eager resumes', async () => {
    const r = await quietRelay();
    // No stream captures this subject: its eager publish fails.
    const lost = outboxRows([{ subject: 'iot.nowhere.y', msgId: 'lost-1', payload: {} }]);
    await r.publishAfterCommit(
      lost,
      () => insert(lost),
      () => lost,
    );
    await waitFor(() => r.eagerStats.failed === 1, { timeoutMs: 15_000 });
    // Eager is off: this write is left to the relay (deferred), which the call notifies.
    const later = rowsOf('deferred', 3);
    await r.publishAfterCommit(
      later,
      () => insert(later),
      () => later,
    );
    expect(r.eagerStats.deferred).toBe(1);
    // The relay cannot get past the lost row (its publish fails every pass) ...
    expect(await r.flushOnce()).toBe(0);
    expect(await unsent()).toEqual(['lost-1', ...later.map((x) => x.event_id)]);
    // ... until it is gone; then it publishes the rest in order and eager publishing resumes
    // after a pass that found nothing left.
    await db.deleteFrom('outbox').where('event_id', '=', 'lost-1').execute();
    expect(await r.flushOnce()).toBe(3);
    expect(await r.flushOnce()).toBe(0);
    const again = rowsOf('resumed', 2);
    await r.publishAfterCommit(
      again,
      () => insert(again),
      () => again,
    );
    await waitFor(() => r.eagerStats.published === 2, { timeoutMs: 10_000 });
    expect(r.eagerStats.deferred).toBe(1);
    expect(await storedIds('deferred')).toEqual(later.map((x) => x.event_id));
    expect(await storedIds('resumed')).toEqual(again.map((x) => x.event_id));
  });

  /**
   * An eager write whose rows are committed and claimed, its publish held until `release`:
   * as a write still under way when something else happens.
   */
  const heldWrite = async (r: OutboxRelay, rows: OutboxInsertRow[]) => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done = r.publishAfterCommit(
      rows,
      async () => {
        const n = await insert(rows);
        await gate;
        return n;
      },
      () => rows,
    );
    await waitFor(async () => (await unsent()).length === rows.length);
    return { release, done };
  };

  /** An eager write of a row no stream stores; resolves once its publish has failed. */
  const failedEager = async (r: OutboxRelay, msgId: string) => {
    const lost = outboxRows([{ subject: 'iot.nowhere.x', msgId, payload: {} }]);
    await r.publishAfterCommit(
      lost,
      () => insert(lost),
      () => lost,
    );
    await waitFor(() => r.eagerStats.failed === 1, { timeoutMs: 15_000 });
  };

  it('a write under way when an eager publish fails hands its rows to the relay', async () => {
    const r = await quietRelay();
    const rows = rowsOf('underway', 3);
    // Committed first: the relay publishes in id order, and the failed row comes after them.
    const underway = await heldWrite(r, rows);
    await failedEager(r, 'lost-u');
    underway.release();
    await underway.done;
    // Published now, its rows would be stored ahead of the failed one's retry.
    expect(r.eagerStats.published).toBe(0);
    expect(r.eagerStats.deferred).toBe(1);
    await db.deleteFrom('outbox').where('event_id', '=', 'lost-u').execute();
    await r.flushOnce();
    await waitFor(async () => (await unsent()).length === 0, { timeoutMs: 10_000 });
    expect(await storedIds('underway')).toEqual(rows.map((x) => x.event_id));
  });

  it('while eager publishing is off, a pass publishes no row past a claimed one', async () => {
    const r = await quietRelay();
    const all = rowsOf('behind', 4);
    const [first, second] = [all.slice(0, 2), all.slice(2)];
    // A write begun before the failure below: its rows are claimed, its publish held.
    const claimedWrite = await heldWrite(r, first);
    await failedEager(r, 'lost-v');
    // A later write of the same aggregates, left to the relay (eager publishing is off).
    await r.publishAfterCommit(
      second,
      () => insert(second),
      () => second,
    );
    await db.deleteFrom('outbox').where('event_id', '=', 'lost-v').execute();
    // Skipping the claimed rows, this pass would store the later ones ahead of them.
    expect(await r.flushOnce()).toBe(0);
    expect(await storedIds('behind')).toEqual([]);
    claimedWrite.release();
    await claimedWrite.done;
    await waitFor(async () => (await unsent()).length === 0, { timeoutMs: 10_000 });
    expect(await storedIds('behind')).toEqual(all.map((x) => x.event_id));
  });

  it('a `written` that throws leaves the committed rows to the relay and holds no claim', async () => {
    const r = await quietRelay();
    const rows = rowsOf('thrown', 3);
    const n = await r.publishAfterCommit(
      rows,
      () => insert(rows),
      () => {
        throw new Error('bug in written');
      },
    );
    expect(n).toBe(3);
    expect(await r.flushOnce()).toBe(3);
    expect(await storedIds('thrown')).toEqual(rows.map((x) => x.event_id));
    await r.stop(); // would hang if a claim were left counted
    relay = null;
  });

  it('a relay pass publishes a batch row’s messages in order, between single rows', async () => {
    const r = await quietRelay({ batches: true });
    const singles = rowsOf('mixed', 2);
    const batch = outboxBatch(rowsOf('mixedb', 5));
    await insert([singles[0]!]);
    await insertBatch(batch);
    await insert([singles[1]!]);
    expect(await r.flushOnce()).toBe(3);
    expect(await unsent()).toEqual([]);
    expect(await storedIds('mixed')).toEqual(singles.map((x) => x.event_id));
    expect(await storedIds('mixedb')).toEqual(batch.messages.map((x) => x.event_id));
    const info = await bus.jsm.streams.info(stream());
    const order: string[] = [];
    for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq++) {
      const m = await bus.jsm.streams.getMessage(stream(), { seq });
      if (/\.mixedb?\./.test(m.subject)) order.push(m.header.get(HEADERS.msgId));
    }
    expect(order).toEqual(['mixed-0', ...batch.messages.map((x) => x.event_id), 'mixed-1']);
    const last = await bus.jsm.streams.getMessage(stream(), {
      last_by_subj: bus.naming.subject('iot.device.acme.mixedb.d1'),
    });
    expect(last.header.get(HEADERS.correlationId)).toBe('corr-mixedb-4');
    expect(last.json()).toEqual({ label: 'mixedb', i: 4 });
  });

  it('a pass reads batch rows up to its byte cap, and goes on until the outbox is empty', async () => {
    // Any batch text passes one byte: each read returns one row.
    const r = await quietRelay({ batches: true, batchBytes: 1 });
    const labels = ['cappeda', 'cappedb', 'cappedc'];
    const batches = labels.map((label) => outboxBatch(rowsOf(label, 2)));
    for (const b of batches) await insertBatch(b);
    expect(await r.flushOnce()).toBe(3);
    expect(await unsent()).toEqual([]);
    for (const [k, label] of labels.entries()) {
      expect(await storedIds(label)).toEqual(batches[k]!.messages.map((x) => x.event_id));
    }
  });

  it('a batch row with a message that cannot be stored stays unsent, rows before it are sent', async () => {
    const r = await quietRelay({ batches: true });
    const before = rowsOf('beforebad', 1);
    const bad = outboxBatch([
      ...rowsOf('badbatch', 2),
      ...outboxRows([{ subject: 'iot.nowhere.z', msgId: 'badbatch-lost', payload: {} }]),
    ]);
    await insert(before);
    await insertBatch(bad);
    expect(await r.flushOnce()).toBe(1);
    expect(await unsent()).toEqual([bad.event_id]);
    // Its stored messages are published again by the next pass: the stream drops them.
    expect(await r.flushOnce()).toBe(0);
    expect(await storedIds('badbatch')).toEqual(['badbatch-0', 'badbatch-1']);
  });

  it('publishes the messages a batch write kept, and deletes the row once all are acked', async () => {
    const r = await quietRelay({ deleteSent: true, batches: true });
    const all = outboxBatch(rowsOf('kept', 6));
    // The statement wrote the commands of every other message only.
    const kept = all.messages.filter((_, i) => i % 2 === 0);
    await r.publishAfterCommit(
      [all],
      () => insertBatch(all, kept),
      () => [{ ...all, messages: kept }],
    );
    await outboxEmptied();
    expect(r.eagerStats.published).toBe(3);
    expect(await storedIds('kept')).toEqual(kept.map((x) => x.event_id));
    expect(await r.flushOnce()).toBe(0);
  });

  it('a batch given back with no message was not written: nothing is published or marked', async () => {
    const r = await quietRelay({ batches: true });
    const all = outboxBatch(rowsOf('none', 2));
    // The statement wrote none of its commands, so it inserted no batch row.
    await r.publishAfterCommit(
      [all],
      async () => 0,
      () => [{ ...all, messages: [] }],
    );
    await r.stop(); // would hang if the row were left counted as in flight
    relay = null;
    expect(r.eagerStats).toMatchObject({ published: 0, marks: 0, failed: 0 });
    expect(await storedIds('none')).toEqual([]);
  });

  it('a batch whose eager publish fails goes back to the relay whole', async () => {
    const r = await quietRelay({ batches: true });
    const batch = outboxBatch([
      ...rowsOf('eagerbad', 2),
      ...outboxRows([{ subject: 'iot.nowhere.w', msgId: 'eagerbad-lost', payload: {} }]),
    ]);
    await r.publishAfterCommit(
      [batch],
      () => insertBatch(batch),
      () => [batch],
    );
    await waitFor(() => r.eagerStats.failed === 1 && r.eagerStats.published === 2, {
      timeoutMs: 15_000,
    });
    expect(await unsent()).toEqual([batch.event_id]);
    // The relay cannot get past it either; once it holds only what can be stored, it goes.
    expect(await r.flushOnce()).toBe(0);
    await db
      .updateTable('outbox')
      .set({ batch: batch.messages.slice(0, 2).map(outboxBatchLine).join('\n') })
      .where('event_id', '=', batch.event_id)
      .execute();
    expect(await r.flushOnce()).toBe(1);
    expect(await storedIds('eagerbad')).toEqual(['eagerbad-0', 'eagerbad-1']);
  });

  it('stop waits for eager publishes in flight and their marks', async () => {
    const r = await quietRelay();
    const rows = rowsOf('stop', 20);
    await r.publishAfterCommit(
      rows,
      () => insert(rows),
      () => rows,
    );
    await r.stop();
    relay = null;
    expect(await unsent()).toEqual([]);
    expect(await storedIds('stop')).toEqual(rows.map((x) => x.event_id));
  });
});
