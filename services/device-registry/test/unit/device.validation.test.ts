import {
  applyAttributesPatch,
  hashHardwareId,
  normalizeTags,
  sameTags,
  validateAttributes,
  validateRegistration,
} from '../../src/domain/device.validation';

const newId = () => 'd-generated';

describe('validateRegistration', () => {
  it.each([
    ['minimal, id generated', { deviceType: 't', hardwareId: 'hw1' }, 'd-generated'],
    ['explicit id', { deviceId: 'dev-1', deviceType: 't', hardwareId: 'hw1' }, 'dev-1'],
  ])('accepts %s', (_name, input, id) => {
    const reg = validateRegistration(input, newId);
    expect(reg).toEqual({
      deviceId: id,
      deviceType: 't',
      hardwareId: 'hw1',
      hardwareModel: null,
      tags: [],
      attributes: {},
    });
  });

  it('normalizes tags and keeps attributes and model', () => {
    const reg = validateRegistration(
      {
        deviceType: 't',
        hardwareId: 'hw1',
        hardwareModel: 'rev-b',
        tags: ['b', 'a', 'b'],
        attributes: { floor: 3, ok: true, site: 'x' },
      },
      newId,
    );
    expect(reg.tags).toEqual(['a', 'b']);
    expect(reg.hardwareModel).toBe('rev-b');
    expect(reg.attributes).toEqual({ floor: 3, ok: true, site: 'x' });
  });

  it.each([
    ['bad device id', { deviceId: 'a/b', deviceType: 't', hardwareId: 'h' }, /device_id/],
    ['bad device type', { deviceType: 'a.b', hardwareId: 'h' }, /device_type/],
    ['bad hardware id', { deviceType: 't', hardwareId: '' }, /hardware_id/],
    ['empty model', { deviceType: 't', hardwareId: 'h', hardwareModel: '' }, /hardware_model/],
    [
      'long model',
      { deviceType: 't', hardwareId: 'h', hardwareModel: 'x'.repeat(129) },
      /hardware_model/,
    ],
    ['bad tag', { deviceType: 't', hardwareId: 'h', tags: ['a b'] }, /tag/],
    ['bad attribute key', { deviceType: 't', hardwareId: 'h', attributes: { 'a b': 1 } }, /key/],
    [
      'object attribute',
      { deviceType: 't', hardwareId: 'h', attributes: { a: { x: 1 } } },
      /string, number or boolean/,
    ],
    [
      'non-finite number',
      { deviceType: 't', hardwareId: 'h', attributes: { a: Number.NaN } },
      /string, number or boolean/,
    ],
  ])('rejects %s with 400', (_name, input, detail) => {
    expect(() => validateRegistration(input, newId)).toThrow(
      expect.objectContaining({
        status: 400,
        code: 'validation_failed',
        detail: expect.stringMatching(detail),
      }),
    );
  });
});

describe('tags', () => {
  it('caps the number of tags', () => {
    const many = Array.from({ length: 65 }, (_v, i) => `t${i}`);
    expect(() => normalizeTags(many)).toThrow(/at most 64 tags/);
    expect(normalizeTags(many.slice(0, 64))).toHaveLength(64);
  });
  it('rejects non-strings', () => {
    expect(() => normalizeTags([1])).toThrow(/tag 1/);
  });
  it.each([
    [['a', 'b'], ['b', 'a'], true],
    [['a'], ['a', 'b'], false],
    [['a', 'c'], ['a', 'b'], false],
  ])('sameTags(%j, %j) = %s', (a, b, same) => {
    expect(sameTags(a, b)).toBe(same);
  });
});

describe('attributes', () => {
  it('caps the number of attributes', () => {
    const many = Object.fromEntries(Array.from({ length: 257 }, (_v, i) => [`k${i}`, i]));
    expect(() => validateAttributes(many)).toThrow(/at most 256 attributes/);
  });

  it.each([
    ['sets a key', { a: 1 }, { b: 'x' }, { a: 1, b: 'x' }],
    ['replaces a key', { a: 1 }, { a: false }, { a: false }],
    ['null deletes', { a: 1, b: 2 }, { a: null }, { b: 2 }],
    ['deleting a missing key is a no-op', { a: 1 }, { z: null }, { a: 1 }],
    ['empty patch', { a: 1 }, {}, { a: 1 }],
  ])('merge patch: %s', (_name, current, patch, expected) => {
    const before = structuredClone(current);
    expect(applyAttributesPatch(current, patch)).toEqual(expected);
    expect(current).toEqual(before);
  });

  it.each([
    ['bad key', { 'a b': 1 }, /key/],
    ['nested object', { a: { b: 1 } }, /string, number, boolean or null/],
  ])('merge patch rejects %s', (_name, patch, detail) => {
    expect(() => applyAttributesPatch({}, patch)).toThrow(detail);
  });

  it('merge patch respects the attribute cap', () => {
    const current = Object.fromEntries(Array.from({ length: 256 }, (_v, i) => [`k${i}`, i]));
    expect(() => applyAttributesPatch(current, { extra: 1 })).toThrow(/at most 256/);
  });
});

describe('hashHardwareId', () => {
  it('is a stable sha256 hex that does not contain the id', () => {
    const h = hashHardwareId('HW-SECRET-1');
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(h).toBe(hashHardwareId('HW-SECRET-1'));
    expect(h).not.toBe(hashHardwareId('HW-SECRET-2'));
    expect(h).not.toContain('HW-SECRET-1');
  });
});
