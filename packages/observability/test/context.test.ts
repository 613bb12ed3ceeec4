// Correlation ids: valid ULIDs (checked with the `ulid` package), unique, increasing in time
// order, timed now; and the context that carries them.
import { decodeTime, isValid } from 'ulid';
import { getContext, newCorrelationId, runWithContext } from '../src';
import { monotonicUlidFactory } from '../src/context';

describe('correlation ids', () => {
  it('are 100k valid, unique ULIDs in increasing order, timed now', () => {
    const t0 = Date.now();
    const ids = Array.from({ length: 100_000 }, () => newCorrelationId());
    const t1 = Date.now();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id) || !isValid(id)) throw new Error(`bad ${id}`);
      if (i > 0 && !(id > (ids[i - 1] as string))) throw new Error(`${id} not after ${ids[i - 1]}`);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(decodeTime(ids[0] as string)).toBeGreaterThanOrEqual(t0);
    expect(decodeTime(ids[ids.length - 1] as string)).toBeLessThanOrEqual(t1);
  });

  it('increment within a millisecond and across a clock step back, redraw on a new one', () => {
    let now = 1_700_000_000_000;
    const next = monotonicUlidFactory(() => now);
    const a = next();
    const b = next();
    expect(decodeTime(a)).toBe(now);
    expect(b.slice(0, 10)).toBe(a.slice(0, 10));
    expect(b > a).toBe(true);
    now -= 5;
    const c = next();
    expect(decodeTime(c)).toBe(now + 5);
    expect(c > b).toBe(true);
    now += 10;
    const d = next();
    expect(decodeTime(d)).toBe(now);
    expect(d.slice(10)).not.toBe(c.slice(10));
  });

  it('draw uniform, non-repeating randomness from the pool', () => {
    let now = 1_700_000_000_000;
    const next = monotonicUlidFactory(() => now++);
    const counts = new Array<number>(32).fill(0);
    const parts = new Set<string>();
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    for (let i = 0; i < 20_000; i++) {
      const r = next().slice(10);
      parts.add(r);
      for (const ch of r) counts[alphabet.indexOf(ch)]!++;
    }
    expect(parts.size).toBe(20_000);
    // 320k digits over 32 values: 10k expected each; 5 % off would be ~25 standard deviations.
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });
});

describe('context', () => {
  it('inherits fields not given from the enclosing context', () => {
    const id = newCorrelationId();
    runWithContext({ correlationId: id, tenant: 'acme' }, () =>
      runWithContext({ deviceId: 'd1' }, () => {
        expect(getContext()).toEqual({ correlationId: id, tenant: 'acme', deviceId: 'd1' });
      }),
    );
    expect(getContext()).toEqual({});
  });
});
