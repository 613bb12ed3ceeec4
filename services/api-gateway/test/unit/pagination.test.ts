import {
  DEFAULT_LIMIT,
  MAX_CURSOR_LENGTH,
  MAX_LIMIT,
  MIN_LIMIT,
  resolveCursor,
  resolveLimit,
} from '../../src/domain/pagination';

describe('resolveLimit', () => {
  it.each<[string, number | undefined, number]>([
    ['absent → default', undefined, DEFAULT_LIMIT],
    ['NaN → default', Number.NaN, DEFAULT_LIMIT],
    ['in range', 10, 10],
    ['lower bound', 1, 1],
    ['upper bound', 500, 500],
    ['above → max', 501, MAX_LIMIT],
    ['zero → min', 0, 1],
    ['negative → min', -5, 1],
    ['fraction truncated', 7.9, 7],
  ])('%s', (_name, limit, expected) => {
    expect(resolveLimit(limit)).toBe(expected);
  });
});

describe('resolveCursor', () => {
  it.each<[string, string | undefined, string | undefined]>([
    ['absent', undefined, undefined],
    ['empty means first page', '', undefined],
    ['kept as is', 'abc.123', 'abc.123'],
  ])('%s', (_name, cursor, expected) => {
    expect(resolveCursor(cursor)).toBe(expected);
  });
});

it('bounds are those of API.md', () => {
  expect([MIN_LIMIT, MAX_LIMIT, DEFAULT_LIMIT]).toEqual([1, 500, 50]);
  expect(MAX_CURSOR_LENGTH).toBeGreaterThanOrEqual(128);
});
