// The session ledger's bucket on the real NATS: the compare-and-set writes a claim relies on.
import { cleanupNamespace, testNamespace, withTestBus } from '@drover/testing';
import { type Bus } from '@drover/bus';
import { openSessionLedger, type SessionLedger } from '../../src/adapters/nats/session-ledger.kv';
import { type LedgerEntry } from '../../src/domain/session-ledger';

const entry = (member: string, at: number): LedgerEntry => ({
  member,
  prefix: 'p',
  sessions: [{ client_id: `${member}-0`, filters: ['$share/g/p/+/+/+/telemetry'] }],
  retiring: [],
  at,
});

describe('the session ledger bucket', () => {
  const ns = testNamespace('ledger');
  let bus: Bus;
  let ledger: SessionLedger;

  beforeAll(async () => {
    bus = await withTestBus(ns, { ensureStreams: false });
    ledger = await openSessionLedger(bus, bus.naming);
  });
  afterAll(async () => {
    await cleanupNamespace(ns, { bus, redisUrl: null });
    await bus.close();
  });

  it('a claim holds until its owner writes again; then it fails, and a delete too', async () => {
    const first = await ledger.put(entry('a', 1));
    expect(await ledger.read('a')).toEqual({ entry: entry('a', 1), revision: first });
    const claim = { ...entry('a', 2), claimed_by: 'b' };
    const claimed = await ledger.update(claim, first);
    expect(claimed).toBeGreaterThan(first);
    // A second claimer, with the revision it read before, loses.
    expect(await ledger.update({ ...claim, claimed_by: 'c' }, first)).toBeNull();
    // The owner is back: its write wins, the claimer's next write and its delete fail.
    await ledger.put(entry('a', 3));
    expect(await ledger.update(claim, claimed as number)).toBeNull();
    expect(await ledger.remove('a', claimed as number)).toBe(false);
    expect((await ledger.read('a'))?.entry).toEqual(entry('a', 3));
  });

  it('lists the entries; a deleted one is gone', async () => {
    const rev = await ledger.put(entry('b', 1));
    expect((await ledger.list()).map((e) => e.entry.member).sort()).toEqual(['a', 'b']);
    expect(await ledger.remove('b', rev)).toBe(true);
    expect(await ledger.read('b')).toBeUndefined();
    expect((await ledger.list()).map((e) => e.entry.member)).toEqual(['a']);
  });
});
