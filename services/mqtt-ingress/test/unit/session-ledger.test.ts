import {
  type LedgerEntry,
  type LedgerSession,
  planSweep,
  staleSessions,
  startEntry,
} from '../../src/domain/session-ledger';

const session = (client_id: string, ...filters: string[]): LedgerSession => ({
  client_id,
  filters,
});
const self = { member: 'a', prefix: 'p' };
const entry = (over: Partial<LedgerEntry>): LedgerEntry => ({
  member: 'a',
  prefix: 'p',
  sessions: [],
  retiring: [],
  at: 0,
  ...over,
});

describe('the session ledger', () => {
  it('a first start records the sessions and has nothing to retire', () => {
    const plan = startEntry(undefined, self, [session('a-0', 'f')], 5);
    expect(plan.entry).toEqual(entry({ sessions: [session('a-0', 'f')], at: 5 }));
    expect(plan.drop.size).toBe(0);
    expect(plan.foreign).toEqual([]);
  });

  it('retires the earlier sessions no longer opened, once each, and drops stale filters', () => {
    const prev = entry({
      sessions: [session('a-0', 'f', 'old'), session('a-1', 'f'), session('a-answers-0', 'r')],
      // Not finished last time, and one of them opened again now.
      retiring: [session('a-1', 'f'), session('a-status', 's'), session('a-2', 'f')],
    });
    const plan = startEntry(prev, self, [session('a-0', 'f'), session('a-2', 'f')], 9);
    expect(plan.entry.sessions).toEqual([session('a-0', 'f'), session('a-2', 'f')]);
    expect(plan.entry.retiring.map((s) => s.client_id)).toEqual(['a-1', 'a-answers-0', 'a-status']);
    expect([...plan.drop]).toEqual([['a-0', ['old']]]);
    expect(plan.foreign).toEqual([]);
  });

  it('leaves earlier sessions under another topic prefix alone', () => {
    const prev = entry({ prefix: 'q', sessions: [session('a-0', 'f'), session('a-9', 'f')] });
    const plan = startEntry(prev, self, [session('a-0', 'f')], 1);
    expect(plan.entry.retiring).toEqual([]);
    expect(plan.foreign).toEqual([session('a-9', 'f')]);
  });

  it('a sweep retires own leftovers and entries of the prefix stale past the delay', () => {
    const stored = [
      { entry: entry({ retiring: [session('a-3', 'f')] }), revision: 1 },
      { entry: entry({ member: 'b', at: 100 }), revision: 2 },
      { entry: entry({ member: 'c', at: 899 }), revision: 3 },
      { entry: entry({ member: 'd', at: 0, prefix: 'q' }), revision: 4 },
    ];
    expect(planSweep(stored, self, 1000, 101)).toEqual([
      { kind: 'own', sessions: [session('a-3', 'f')] },
      { kind: 'stale', stored: stored[1] },
    ]);
    // Nothing left to retire of its own; b exactly at the delay is not stale yet.
    expect(planSweep([{ entry: entry({}), revision: 1 }, stored[1]!], self, 1000, 900)).toEqual([]);
  });

  it("a stale entry's sessions: those opened and those left to retire, once each", () => {
    const e = entry({
      sessions: [session('b-0', 'f'), session('b-1', 'f')],
      retiring: [session('b-1', 'f'), session('b-2', 'g')],
    });
    expect(staleSessions(e).map((s) => s.client_id)).toEqual(['b-0', 'b-1', 'b-2']);
  });
});
