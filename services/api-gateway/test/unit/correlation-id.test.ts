import { acceptCorrelationId, CORRELATION_ID_PATTERN } from '../../src/domain/correlation-id';

describe('acceptCorrelationId', () => {
  it.each<[string, string | string[] | undefined, string | undefined]>([
    ['a ULID', '01JABCDEF0123456789ABCDEFG', '01JABCDEF0123456789ABCDEFG'],
    ['dots, colons, dashes', 'req-1.a:b_c', 'req-1.a:b_c'],
    ['absent', undefined, undefined],
    ['empty', '', undefined],
    ['spaces', 'a b', undefined],
    ['newline injection', 'a\nb', undefined],
    ['too long', 'x'.repeat(129), undefined],
    ['repeated header: first used', ['first-id', 'second'], 'first-id'],
    ['repeated header: bad first', ['bad id', 'ok'], undefined],
  ])('%s', (_name, header, expected) => {
    expect(acceptCorrelationId(header)).toBe(expected);
  });
});

it('the pattern admits no whitespace', () => {
  expect(CORRELATION_ID_PATTERN.test('a\tb')).toBe(false);
});
