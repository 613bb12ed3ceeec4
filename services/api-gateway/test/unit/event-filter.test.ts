import {
  EVENT_TYPE_PATTERN,
  matchesTypes,
  MAX_EVENT_TYPES,
  parseTypesFilter,
  resumeAfter,
} from '../../src/domain/event-filter';

describe('parseTypesFilter', () => {
  it.each<[string, string | undefined, string[] | null]>([
    ['absent → all', undefined, null],
    ['empty → all', '', null],
    ['only commas → all', ' , ,', null],
    ['one type', 'drover.device.registered.v1', ['drover.device.registered.v1']],
    [
      'two, with blanks',
      ' drover.device.registered.v1 , drover.device.updated.v1,',
      ['drover.device.registered.v1', 'drover.device.updated.v1'],
    ],
  ])('accepts %s', (_name, raw, expected) => {
    const result = parseTypesFilter(raw);
    expect(result).toEqual({ ok: true, types: expected === null ? null : new Set(expected) });
  });

  it.each<[string, string, string]>([
    ['no version', 'drover.device.registered', 'format'],
    ['wildcard', 'drover.device.*', 'format'],
    ['other prefix', 'acme.device.registered.v1', 'format'],
    [
      'too many',
      Array.from({ length: MAX_EVENT_TYPES + 1 }, (_, i) => `drover.a.e${i}.v1`).join(','),
      'at most',
    ],
  ])('rejects %s', (_name, raw, mentions) => {
    const result = parseTypesFilter(raw);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.detail).toContain(mentions);
  });
});

describe('matchesTypes', () => {
  const only = new Set(['drover.device.registered.v1']);
  it.each<[string, ReadonlySet<string> | null, unknown, boolean]>([
    ['no filter passes all', null, 'drover.device.updated.v1', true],
    ['listed type', only, 'drover.device.registered.v1', true],
    ['unlisted type', only, 'drover.device.updated.v1', false],
    ['missing type never passes', null, undefined, false],
  ])('%s', (_name, types, type, expected) => {
    expect(matchesTypes(types, type)).toBe(expected);
  });
});

describe('resumeAfter', () => {
  it.each<[string, string | null | undefined, number | undefined]>([
    ['absent', undefined, undefined],
    ['null', null, undefined],
    ['a sequence', '42', 42],
    ['zero', '0', undefined],
    ['not a number', 'abc', undefined],
    ['negative', '-3', undefined],
    ['too long', '1'.repeat(16), undefined],
  ])('%s', (_name, header, expected) => {
    expect(resumeAfter(header)).toBe(expected);
  });
});

it('the type pattern matches the contracts naming', () => {
  expect(EVENT_TYPE_PATTERN.test('drover.device.state_changed.v1')).toBe(true);
  expect(EVENT_TYPE_PATTERN.test('drover.device.state_changed')).toBe(false);
});
