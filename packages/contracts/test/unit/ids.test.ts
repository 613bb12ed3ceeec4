import {
  ID_PATTERN,
  InvalidIdError,
  ULID_PATTERN,
  assertValidId,
  isValidId,
  newDeviceId,
  newUlid,
} from '../../src';
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

  it('mints device ids that are valid ids', () => {
    const id = newDeviceId();
    expect(id).toMatch(/^d-[0-9a-hjkmnp-tv-z]{26}$/);
    expect(isValidId(id)).toBe(true);
  });
});
