import {
  computeDelta,
  MAX_STATE_BYTES,
  mergeReported,
  nextDesired,
} from '../../src/domain/device-state';

describe('computeDelta', () => {
  it.each([
    ['equal scalars', { a: 1 }, { a: 1 }, {}],
    ['differing scalar', { a: 1 }, { a: 2 }, { a: 1 }],
    ['missing in reported', { a: 1 }, {}, { a: 1 }],
    ['keys only in reported are ignored', {}, { a: 1 }, {}],
    ['type differs', { a: 1 }, { a: '1' }, { a: 1 }],
    ['nested: only differing keys', { n: { x: 1, y: 2 } }, { n: { x: 1, y: 3 } }, { n: { y: 2 } }],
    ['nested equal is dropped', { n: { x: { z: 1 } } }, { n: { x: { z: 1 } } }, {}],
    ['deep nested', { n: { x: { z: 1 } } }, { n: { x: { z: 2 } } }, { n: { x: { z: 1 } } }],
    ['object vs scalar', { n: { x: 1 } }, { n: 5 }, { n: { x: 1 } }],
    ['arrays compare whole', { l: [1, 2] }, { l: [1, 2] }, {}],
    ['arrays differ', { l: [1, 2] }, { l: [2, 1] }, { l: [1, 2] }],
    ['null desired vs absent', { a: null }, {}, { a: null }],
  ])('%s', (_name, desired, reported, delta) => {
    expect(computeDelta(desired, reported)).toEqual(delta);
  });
});

describe('nextDesired', () => {
  const current = { state: { a: 1 }, version: 3 };
  it.each([
    ['no expected version', undefined],
    ['matching expected version', 3],
  ])('accepts with %s and bumps the version', (_name, expected) => {
    expect(nextDesired(current, { b: 2 }, expected)).toEqual({ state: { b: 2 }, version: 4 });
  });
  it('rejects a stale expected version with 409 version_conflict', () => {
    expect(() => nextDesired(current, { b: 2 }, 2)).toThrow(
      expect.objectContaining({ status: 409, code: 'version_conflict' }),
    );
  });
  it.each([
    ['an array', [1]],
    ['null', null],
    ['a string', 'x'],
  ])('rejects %s as state', (_name, state) => {
    expect(() => nextDesired(current, state)).toThrow(/JSON object/);
  });
  it('rejects an oversized state', () => {
    expect(() => nextDesired(current, { big: 'x'.repeat(MAX_STATE_BYTES) })).toThrow(/at most/);
  });
});

describe('mergeReported', () => {
  it.each([
    ['adds keys', { a: 1 }, { b: 2 }, { a: 1, b: 2 }],
    ['deep merges', { n: { x: 1, y: 1 } }, { n: { y: 2 } }, { n: { x: 1, y: 2 } }],
    ['null deletes', { a: 1, b: 2 }, { a: null }, { b: 2 }],
    ['arrays replace', { l: [1] }, { l: [2, 3] }, { l: [2, 3] }],
  ])('%s and bumps the version', (_name, state, patch, merged) => {
    const current = { state, version: 1 };
    const before = structuredClone(state);
    expect(mergeReported(current, patch)).toEqual({
      changed: true,
      next: { state: merged, version: 2 },
    });
    expect(state).toEqual(before);
  });
  it('reports no change for an identical report', () => {
    const current = { state: { a: 1, n: { x: 1 } }, version: 5 };
    expect(mergeReported(current, { a: 1, n: { x: 1 } })).toEqual({
      changed: false,
      next: current,
    });
  });
  it('rejects a non-object report', () => {
    expect(() => mergeReported({ state: {}, version: 0 }, [1])).toThrow(/JSON object/);
  });
});
