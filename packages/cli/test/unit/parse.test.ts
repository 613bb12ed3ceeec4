import { InvalidArgumentError } from 'commander';
import { collectAttr, collectTags, parseAttr, parseLimit, parseTtl } from '../../src/parse';

describe('parseAttr', () => {
  it('reads JSON scalars and keeps other text as a string', () => {
    expect(parseAttr('floor=3')).toEqual(['floor', 3]);
    expect(parseAttr('ratio=0.5')).toEqual(['ratio', 0.5]);
    expect(parseAttr('on=true')).toEqual(['on', true]);
    expect(parseAttr('room=lab 2')).toEqual(['room', 'lab 2']);
    expect(parseAttr('serial="007"')).toEqual(['serial', '007']);
    expect(parseAttr('serial=007')).toEqual(['serial', '007']);
    expect(parseAttr('expr=a=b')).toEqual(['expr', 'a=b']);
    expect(parseAttr('empty=')).toEqual(['empty', '']);
  });

  it('keeps JSON objects, arrays and null as text (attributes are flat)', () => {
    expect(parseAttr('o={"a":1}')).toEqual(['o', '{"a":1}']);
    expect(parseAttr('n=null')).toEqual(['n', 'null']);
  });

  it('rejects input without a key', () => {
    expect(() => parseAttr('novalue')).toThrow(InvalidArgumentError);
    expect(() => parseAttr('=x')).toThrow('expected key=value');
  });

  it('collects repeated attributes, the last one winning', () => {
    const acc = collectAttr('b=2', collectAttr('a=1', collectAttr('b=1', undefined)));
    expect(acc).toEqual({ a: 1, b: 2 });
  });
});

describe('collectTags', () => {
  it('accepts repeated and comma-separated tags, dropping blanks', () => {
    expect(collectTags('c', collectTags('a, b,', undefined))).toEqual(['a', 'b', 'c']);
  });
});

describe('parseLimit', () => {
  it('accepts 1 to 500', () => {
    expect(parseLimit('1')).toBe(1);
    expect(parseLimit('500')).toBe(500);
  });

  it.each(['0', '501', '2.5', 'ten', ''])('rejects %p', (input) => {
    expect(() => parseLimit(input)).toThrow('expected an integer from 1 to 500');
  });
});

describe('parseTtl', () => {
  it('reads seconds and units', () => {
    expect(parseTtl('90')).toBe(90);
    expect(parseTtl('90s')).toBe(90);
    expect(parseTtl('30m')).toBe(1800);
    expect(parseTtl('12h')).toBe(43200);
    expect(parseTtl('7d')).toBe(604800);
  });

  it.each(['0', '-5', '1w', 'h', '1.5h'])('rejects %p', (input) => {
    expect(() => parseTtl(input)).toThrow(InvalidArgumentError);
  });
});
