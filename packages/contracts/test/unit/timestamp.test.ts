import { parseRfc3339, parseTimestamp, toRfc3339 } from '../../src';

describe('timestamps', () => {
  it.each([
    ['2025-06-01T12:00:00Z', Date.UTC(2025, 5, 1, 12)],
    ['2025-06-01 12:00:00Z', Date.UTC(2025, 5, 1, 12)],
    ['2025-06-01T12:00:00.1Z', Date.UTC(2025, 5, 1, 12, 0, 0, 100)],
    ['2025-06-01T12:00:00.123456789+00:00', Date.UTC(2025, 5, 1, 12, 0, 0, 123)],
    ['2025-06-01T00:30:00+01:00', Date.UTC(2025, 4, 31, 23, 30)],
    ['2024-02-29T00:00:00Z', Date.UTC(2024, 1, 29)],
    ['2000-02-29T00:00:00Z', Date.UTC(2000, 1, 29)],
    ['2016-12-31T23:59:60Z', Date.UTC(2017, 0, 1)],
    ['0050-01-01T00:00:00Z', -60589296000000],
  ])('parses %s', (s, ms) => {
    expect(parseRfc3339(s)).toBe(ms);
    expect(parseTimestamp(s)).toBe(ms);
  });

  it.each([
    '2025-02-29T00:00:00Z',
    '1900-02-29T00:00:00Z',
    '2025-04-31T00:00:00Z',
    '2025-00-10T00:00:00Z',
    '2025-06-00T00:00:00Z',
    '2025-06-01T12:60:00Z',
    '2025-06-01T12:00:61Z',
    '2025-06-01T12:00:00+24:00',
    '2025-06-01T12:00:00+01:60',
    '2025-06-01T12:00:00.Z',
    '2025-06-01T12:00:00.1234567890Z',
    '2025-6-1T12:00:00Z',
    '2025-06-01T12:00Z',
    '2025-06-01T12:00:00+0100',
    ' 2025-06-01T12:00:00Z',
    '2025-06-01T12:00:00Z ',
    '',
  ])('refuses %j', (s) => {
    expect(parseRfc3339(s)).toBeNull();
  });

  it.each([
    [0, 0],
    [1_700_000_000_000, 1_700_000_000_000],
    [-5, -5],
    [1.5, null],
    [Number.MAX_SAFE_INTEGER + 2, null],
    [NaN, null],
    [null, null],
    [true, null],
    [{}, null],
  ])('parseTimestamp(%j) = %j', (ts, expected) => {
    expect(parseTimestamp(ts)).toBe(expected);
  });

  it('writes RFC 3339 that parses back', () => {
    const ms = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
    expect(toRfc3339(ms)).toBe('2025-01-02T03:04:05.678Z');
    expect(parseRfc3339(toRfc3339(ms))).toBe(ms);
  });
});
