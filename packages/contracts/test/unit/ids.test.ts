import {
  ID_PATTERN,
  InvalidIdError,
  ULID_PATTERN,
  assertValidId,
  isValidId,
  monotonicUlidFactory,
  newDeviceId,
  newUlid,
} from '../../src';
import { decodeTime, isValid } from 'ulid';
import { BAD_IDS, GOOD_IDS } from './bad-ids';

describe('ids', () => {
  it('uses the documented pattern', () => {
    expect(ID_PATTERN.source).toBe('^[A-Za-z0-9_-]{1,64}$');
  });

  it.each(GOOD_IDS)('accepts %j', (id) => {
    expect(isValidId(id)).toBe(true);
    expect(() => assertValidId('deviceId', id)).not.toThrow();
  });

  it.each(BAD_IDS)('refuses %j', (id) => {
    expect(isValidId(id)).toBe(false);
    expect(() => assertValidId('deviceId', id)).toThrow(InvalidIdError);
  });

  it('names the kind and keeps the value in the error', () => {
    try {
      assertValidId('tenant', 'a.b');
      throw new Error('not reached');
    } catch (err) {
      expect(err).toBeInstanceOf(InvalidIdError);
      expect((err as InvalidIdError).kind).toBe('tenant');
      expect((err as InvalidIdError).value).toBe('a.b');
      expect((err as InvalidIdError).message).toContain('invalid tenant');
    }
  });

  it('truncates huge values in the message', () => {
    expect(() => assertValidId('x', 'y'.repeat(10_000))).toThrow(/…/);
  });

  it('mints ULIDs in increasing order', () => {
    const ids = Array.from({ length: 100 }, () => newUlid());
    for (const id of ids) expect(id).toMatch(ULID_PATTERN);
    expect([...ids].sort()).toEqual(ids);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('mints 100k valid, unique ULIDs in increasing order, timed now', () => {
    const t0 = Date.now();
    const ids = Array.from({ length: 100_000 }, () => newUlid());
    const t1 = Date.now();
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i] as string;
      if (!ULID_PATTERN.test(id) || !isValid(id)) throw new Error(`invalid ULID ${id}`);
      if (i > 0 && !(id > (ids[i - 1] as string))) throw new Error(`${id} not after ${ids[i - 1]}`);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(decodeTime(ids[0] as string)).toBeGreaterThanOrEqual(t0);
    expect(decodeTime(ids[ids.length - 1] as string)).toBeLessThanOrEqual(t1);
  });

  it('increments within a millisecond and across a clock step back, redraws on a new one', () => {
    let now = 1_700_000_000_000;
    const next = monotonicUlidFactory(() => now);
    const a = next();
    const b = next();
    expect(decodeTime(a)).toBe(now);
    expect(b.slice(0, 10)).toBe(a.slice(0, 10));
    expect(b > a).toBe(true);
    now -= 5; // the clock steps back: still the last time, still increasing
    const c = next();
    expect(decodeTime(c)).toBe(now + 5);
    expect(c > b).toBe(true);
    now += 10;
    const d = next();
    expect(decodeTime(d)).toBe(now);
    expect(d.slice(10)).not.toBe(c.slice(10));
  });

  it('draws uniform, non-repeating randomness from its pool', () => {
    let now = 1_700_000_000_000;
    const next = monotonicUlidFactory(() => now++);
    const counts = new Array<number>(32).fill(0);
    const randomParts = new Set<string>();
    const alphabet = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
    const n = 20_000;
    for (let i = 0; i < n; i++) {
      const r = next().slice(10);
      randomParts.add(r);
      for (const ch of r) counts[alphabet.indexOf(ch)]!++;
    }
    expect(randomParts.size).toBe(n);
    // 320k digits over 32 values: 10k expected each; 5 % off would be ~25 standard deviations.
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
  });

  it('mints device ids that are valid ids', () => {
    const id = newDeviceId();
    expect(id).toMatch(/^d-[0-9a-hjkmnp-tv-z]{26}$/);
    expect(isValidId(id)).toBe(true);
  });
});
