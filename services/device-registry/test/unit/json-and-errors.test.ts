import { conflict, invalid, notFound } from '../../src/domain/errors';
import { jsonClone, jsonEqual } from '../../src/domain/json';

describe('jsonEqual', () => {
  it.each([
    [1, 1, true],
    [1, '1', false],
    [null, null, true],
    [null, {}, false],
    [{}, null, false],
    [[1, 2], [1, 2], true],
    [[1, 2], { 0: 1, 1: 2 }, false],
    [{ a: 1, b: 2 }, { b: 2, a: 1 }, true],
    [{ a: 1 }, { a: 1, b: 2 }, false],
    [{ a: 1, c: 2 }, { a: 1, b: 2 }, false],
    [{ n: { x: [1, { y: true }] } }, { n: { x: [1, { y: true }] } }, true],
    [{ n: { x: [1, { y: true }] } }, { n: { x: [1, { y: false }] } }, false],
  ])('jsonEqual(%j, %j) = %s', (a, b, expected) => {
    expect(jsonEqual(a, b)).toBe(expected);
  });

  it('ignores prototypes (documents may come from another realm)', () => {
    const foreign = Object.assign(Object.create(null) as object, { a: 1 });
    expect(jsonEqual(foreign, { a: 1 })).toBe(true);
  });

  it('jsonClone copies deeply', () => {
    const doc = { n: { x: [1] } };
    const copy = jsonClone(doc);
    copy.n.x.push(2);
    expect(doc.n.x).toEqual([1]);
  });
});

describe('domain errors', () => {
  it.each([
    [invalid('bad thing'), 400, 'validation_failed', 'bad thing'],
    [conflict('device_exists', 'taken'), 409, 'device_exists', 'taken'],
    [notFound('device_not_found', 'no device d1'), 404, 'device_not_found', 'no device d1'],
  ])('%s', (err, status, code, detail) => {
    expect(err).toMatchObject({ status, code, detail });
  });
});
