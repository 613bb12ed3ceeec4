import { decodeCursor, encodeCursor, likeContains, pageLimit } from '../../src/domain/cursor';
import { assertActive, needsDecommission } from '../../src/domain/decommission';

describe('cursor', () => {
  it.each([[['d-1']], [['a', 'b']], [['with "quotes" and ünïcode']]])('round-trips %j', (key) => {
    const c = encodeCursor(key);
    expect(c).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(decodeCursor(c, key.length)).toEqual(key);
  });
  it.each([
    ['not base64 JSON', '!!!'],
    ['JSON null', Buffer.from('null').toString('base64url')],
    ['wrong version', Buffer.from(JSON.stringify({ v: 2, k: ['a'] })).toString('base64url')],
    ['wrong arity', encodeCursor(['a', 'b'])],
    ['non-string key', Buffer.from(JSON.stringify({ v: 1, k: [1] })).toString('base64url')],
    ['no key', Buffer.from(JSON.stringify({ v: 1 })).toString('base64url')],
  ])('rejects %s with 400', (_name, cursor) => {
    expect(() => decodeCursor(cursor, 1)).toThrow(
      expect.objectContaining({ status: 400, detail: expect.stringMatching(/invalid cursor/) }),
    );
  });
});

describe('pageLimit', () => {
  it.each([
    [undefined, 50],
    [1, 1],
    [500, 500],
  ])('%s -> %s', (limit, expected) => {
    expect(pageLimit(limit)).toBe(expected);
  });
  it.each([[0], [501], [1.5]])('rejects %s', (limit) => {
    expect(() => pageLimit(limit)).toThrow(/limit/);
  });
});

describe('likeContains', () => {
  it.each([
    ['abc', '%abc%'],
    ['50%_off\\', '%50\\%\\_off\\\\%'],
  ])('%s -> %s', (q, expected) => {
    expect(likeContains(q)).toBe(expected);
  });
});

describe('decommission rules', () => {
  it('active devices pass, decommissioned ones get 409 device_decommissioned', () => {
    expect(() => assertActive({ deviceId: 'd', status: 'active' })).not.toThrow();
    expect(() => assertActive({ deviceId: 'd', status: 'decommissioned' })).toThrow(
      expect.objectContaining({ status: 409, code: 'device_decommissioned' }),
    );
  });
  it.each([
    ['active', true],
    ['decommissioned', false],
  ] as const)('needsDecommission(%s) = %s', (status, expected) => {
    expect(needsDecommission(status)).toBe(expected);
  });
});
