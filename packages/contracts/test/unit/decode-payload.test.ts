import { DEFAULT_MAX_BYTES, DEFAULT_MAX_DEPTH, decodePayload } from '../../src';
import { Encoder, Tag } from 'cbor-x';
import { validPayloads } from './fixtures/payloads';

// Plain CBOR maps for Map values (cbor-x would otherwise prefix them with tag 259).
// A variable, not a literal: cbor-x's typings lack useTag259ForMaps.
const plainMaps = { useTag259ForMaps: false, useRecords: false };
const encoder = new Encoder(plainMaps);
const encode = (v: unknown) => encoder.encode(v);
const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const text = (s: string) => Buffer.from(s, 'utf8');

function nestedJson(depth: number): string {
  // depth containers in total, the outermost an object.
  return `{"a":${'['.repeat(depth - 1)}${']'.repeat(depth - 1)}}`;
}

function nestedValue(depth: number): unknown {
  let v: unknown = [];
  for (let i = 2; i < depth; i++) v = [v];
  return { a: v };
}

function expectReject(result: ReturnType<typeof decodePayload>, reason: string, detail?: RegExp) {
  expect(result.ok).toBe(false);
  if (result.ok) return;
  expect(result.reason).toBe(reason);
  if (detail) expect(result.detail).toMatch(detail);
  expect(result.detail.length).toBeLessThanOrEqual(300);
}

describe('decodePayload: JSON', () => {
  it('decodes an object', () => {
    expect(decodePayload(json({ a: 1, b: 'x' }))).toEqual({
      ok: true,
      value: { a: 1, b: 'x' },
      encoding: 'json',
    });
  });

  it.each([
    ['leading whitespace', ' \n\t\r{"a":1}'],
    ['a byte order mark', '\ufeff{"a":1}'],
  ])('sniffs JSON after %s', (_why, s) => {
    const r = decodePayload(text(s));
    expect(r).toEqual({ ok: true, value: { a: 1 }, encoding: 'json' });
  });

  it.each([
    'application/json',
    'application/json; charset=utf-8',
    'APPLICATION/JSON',
    'application/vnd.x+json',
  ])('honours content type %s', (contentType) => {
    expect(decodePayload(json({ a: 1 }), { contentType })).toMatchObject({
      ok: true,
      encoding: 'json',
    });
  });

  it('keeps "__proto__" as an own key without touching prototypes', () => {
    const r = decodePayload(text('{"__proto__":{"polluted":1},"a":1}'));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(Object.keys(r.value)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it.each([
    ['1e309', /\/a: number out of range/],
    ['-1e309', /\/a: number out of range/],
    ['1E400', /not finite/],
    ['9'.repeat(400), /not finite/],
  ])('refuses non-finite number %s as schema', (num, detail) => {
    expectReject(decodePayload(text(`{"a":${num}}`)), 'schema', detail);
  });

  it('accepts ordinary exponents and exponent-like text', () => {
    const r = decodePayload(text('{"a":1e3,"b":"9e999","c":true,"d":false,"e":2.5E-3}'));
    expect(r).toMatchObject({
      ok: true,
      value: { a: 1000, b: '9e999', c: true, d: false, e: 0.0025 },
    });
  });

  it('finds a non-finite number deep in arrays', () => {
    expectReject(decodePayload(text('{"a":[1,{"b":[2,1e999]}]}')), 'schema', /\/a\/1\/b\/1/);
  });

  it('allows exactly maxDepth and refuses one more', () => {
    expect(decodePayload(text(nestedJson(DEFAULT_MAX_DEPTH))).ok).toBe(true);
    expectReject(decodePayload(text(nestedJson(DEFAULT_MAX_DEPTH + 1))), 'too_deep', /32/);
    expectReject(decodePayload(text(nestedJson(5)), { maxDepth: 4 }), 'too_deep');
  });

  it('does not count brackets inside strings', () => {
    const s = `{"a":"${'['.repeat(100)}\\"${'{'.repeat(100)}"}`;
    expect(decodePayload(text(s)).ok).toBe(true);
  });

  it('refuses a 100,000-deep document without overflowing the stack', () => {
    expectReject(decodePayload(text(`{"a":${'['.repeat(100_000)}`)), 'too_deep');
  });

  it.each([
    ['truncated', '{"a":'],
    ['trailing garbage', '{"a":1} x'],
    ['single quotes', "{'a':1}"],
    ['NaN literal', '{"a":NaN}'],
  ])('refuses %s as bad_json', (_why, s) => {
    expectReject(decodePayload(text(s)), 'bad_json');
  });

  it('refuses invalid UTF-8', () => {
    const buf = Buffer.concat([text('{"a":"'), Buffer.from([0xff, 0xfe]), text('"}')]);
    expectReject(decodePayload(buf), 'invalid_utf8');
    const overlong = Buffer.concat([text('{"a":"'), Buffer.from([0xc0, 0xaf]), text('"}')]);
    expectReject(decodePayload(overlong), 'invalid_utf8');
  });

  it('refuses a non-object JSON value when the content type says JSON', () => {
    expectReject(
      decodePayload(text('[1,2]'), { contentType: 'application/json' }),
      'schema',
      /object/,
    );
    expectReject(decodePayload(text('null'), { contentType: 'application/json' }), 'schema');
  });
});

describe('decodePayload: CBOR', () => {
  it('decodes a map', () => {
    expect(decodePayload(encode({ a: 1, b: 'x' }))).toEqual({
      ok: true,
      value: { a: 1, b: 'x' },
      encoding: 'cbor',
    });
  });

  it.each(Object.entries(validPayloads))('decodes %s to the same value as JSON', (_name, value) => {
    const fromJson = decodePayload(json(value));
    const fromCbor = decodePayload(encode(value));
    expect(fromJson.ok && fromCbor.ok).toBe(true);
    if (!fromJson.ok || !fromCbor.ok) return;
    expect(fromCbor.value).toEqual(fromJson.value);
    expect(JSON.stringify(fromCbor.value)).toBe(JSON.stringify(fromJson.value));
  });

  it('turns Maps, tags, byte strings, dates, sets, big integers into plain JSON data', () => {
    const value = new Map<unknown, unknown>([
      ['map', new Map([['k', 1]])],
      ['date', new Date('2025-01-02T03:04:05.678Z')],
      ['bytes', Buffer.from('hi')],
      ['big', 2n ** 60n],
      ['set', new Set([1, 2])],
      ['tagged', new Tag({ x: 1 }, 4000)],
      ['floats', new Float32Array([1.5, 2])],
      ['gone', undefined],
      ['holes', [1, undefined, 2]],
      ['proto', new Map([['__proto__', 1]])],
    ]);
    const r = decodePayload(encode(value));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value).toEqual({
      map: { k: 1 },
      date: '2025-01-02T03:04:05.678Z',
      bytes: 'aGk=',
      big: 2 ** 60,
      set: [1, 2],
      tagged: { x: 1 },
      floats: [1.5, 2],
      holes: [1, null, 2],
      proto: JSON.parse('{"__proto__":1}'),
    });
    expect(Object.keys(r.value)).not.toContain('gone');
    expect(Object.getPrototypeOf(r.value.proto)).toBe(Object.prototype);
    expect(JSON.parse(JSON.stringify(r.value))).toEqual(r.value);
  });

  it.each([
    ['an integer key', new Map<unknown, unknown>([[1, 'a']])],
    ['a nested integer key', new Map<unknown, unknown>([['a', new Map([[true, 1]])]])],
    ['a byte-string key', new Map<unknown, unknown>([[Buffer.from('k'), 1]])],
  ])('refuses %s as schema', (_why, value) => {
    expectReject(decodePayload(encode(value)), 'schema', /key/);
  });

  it.each([
    ['NaN', NaN],
    ['Infinity', Infinity],
    ['-Infinity', -Infinity],
  ])('refuses %s as schema with a clear detail', (_why, n) => {
    expectReject(decodePayload(encode({ m: { a: n } })), 'schema', /\/m\/a: non-finite/);
  });

  it('rounds big integers like JSON.parse and refuses bignums beyond a double', () => {
    const big = decodePayload(
      Buffer.concat([Buffer.from([0xa1, 0x61, 0x61, 0xc2, 0x49]), Buffer.alloc(9, 0xff)]),
    );
    expect(big).toMatchObject({ ok: true, value: { a: Number(2n ** 72n - 1n) } });
    const huge = Buffer.concat([
      Buffer.from([0xa1, 0x61, 0x61, 0xc2, 0x58, 200]),
      Buffer.alloc(200, 0xff),
    ]);
    expectReject(decodePayload(huge), 'schema', /^\/a: integer out of range/);
  });

  it('refuses an invalid date', () => {
    // tag 1 (epoch seconds) with a NaN float.
    const buf = Buffer.from([0xa1, 0x61, 0x64, 0xc1, 0xf9, 0x7e, 0x00]);
    const r = decodePayload(buf);
    expect(r.ok).toBe(false);
  });

  it.each(['application/cbor', 'Application/CBOR; x=y', 'application/vnd.x+cbor'])(
    'honours content type %s',
    (contentType) => {
      expect(decodePayload(encode({ a: 1 }), { contentType })).toMatchObject({
        ok: true,
        encoding: 'cbor',
      });
    },
  );

  it('accepts the self-describe tag before a map', () => {
    const buf = Buffer.concat([Buffer.from([0xd9, 0xd9, 0xf7]), encode({ a: 1 })]);
    expect(decodePayload(buf)).toMatchObject({ ok: true, value: { a: 1 }, encoding: 'cbor' });
  });

  it('allows exactly maxDepth and refuses one more', () => {
    expect(decodePayload(encode(nestedValue(DEFAULT_MAX_DEPTH)))).toMatchObject({ ok: true });
    expectReject(decodePayload(encode(nestedValue(DEFAULT_MAX_DEPTH + 1))), 'too_deep');
  });

  it('refuses 10,000 and 100,000 levels without crashing', () => {
    for (const depth of [10_000, 100_000]) {
      const buf = Buffer.alloc(depth + 3);
      buf[0] = 0xa1; // map(1)
      buf[1] = 0x61; // text(1)
      buf[2] = 0x61; // "a"
      buf.fill(0x81, 3, depth + 2); // array(1) ...
      buf[depth + 2] = 0x01;
      expectReject(decodePayload(buf, { maxBytes: 1 << 20 }), 'too_deep');
    }
  });

  it('ends a reference cycle (tags 28/29) with a rejection', () => {
    // cbor-x rebuilds cycles through arrays faithfully (maps come back with the cycle cut).
    const cyclic: unknown[] = [1];
    cyclic.push(cyclic);
    const buf = new Encoder({ structuredClone: true, useRecords: false }).encode({ w: cyclic });
    const r = decodePayload(buf);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(['too_deep', 'bad_cbor']).toContain(r.reason);
  });

  it('refuses shared references that would expand exponentially', () => {
    let v: unknown = { leaf: 1 };
    for (let i = 0; i < 24; i++) v = [v, v];
    const buf = new Encoder({ structuredClone: true, useRecords: false }).encode({ v });
    expect(buf.length).toBeLessThan(1000);
    expectReject(decodePayload(buf), 'bad_cbor', /shared references/);
  });

  it.each([
    ['truncated map', Buffer.from([0xa2, 0x61, 0x61, 0x01])],
    ['trailing bytes', Buffer.concat([encode({ a: 1 }), Buffer.from([0x01])])],
    ['reserved additional info', Buffer.from([0xa1, 0x61, 0x61, 0x1c])],
  ])('refuses %s as bad_cbor', (_why, buf) => {
    expectReject(decodePayload(buf), 'bad_cbor');
  });

  it('refuses invalid UTF-8 in text strings like JSON does', () => {
    const buf = Buffer.from([0xa1, 0x61, 0x61, 0x62, 0xff, 0xfe]);
    expectReject(decodePayload(buf), 'invalid_utf8');
  });

  it('refuses a non-map CBOR value when the content type says CBOR', () => {
    expectReject(
      decodePayload(encode([1, 2]), { contentType: 'application/cbor' }),
      'schema',
      /map/,
    );
  });
});

describe('decodePayload: limits and encodings', () => {
  it('checks the size limit first', () => {
    const buf = Buffer.alloc(DEFAULT_MAX_BYTES + 1, 0xff); // also invalid in every other way
    expectReject(decodePayload(buf), 'too_large', /262145 bytes exceeds 262144/);
    expectReject(decodePayload(json({ a: 'x'.repeat(20) }), { maxBytes: 10 }), 'too_large');
    expect(decodePayload(Buffer.from(`{"a":"${'x'.repeat(DEFAULT_MAX_BYTES - 8)}"}`)).ok).toBe(
      true,
    );
  });

  it.each([
    ['an empty payload', Buffer.alloc(0), undefined],
    ['a JSON array', text('[1]'), undefined],
    ['a bare string', text('"x"'), undefined],
    ['plain text', text('hello'), undefined],
    ['a CBOR array', encode([1]), undefined],
    ['a CBOR integer', Buffer.from([0x01]), undefined],
    ['whitespace only', text('   '), undefined],
    ['an unsupported content type', json({ a: 1 }), 'text/plain'],
  ])('refuses %s as bad_encoding', (_why, buf, contentType) => {
    expectReject(decodePayload(buf, contentType ? { contentType } : {}), 'bad_encoding');
  });

  it('refuses non-bytes without throwing', () => {
    expectReject(decodePayload('{"a":1}' as never), 'bad_encoding');
    expectReject(decodePayload(null as never), 'bad_encoding');
  });

  it('decodes a Uint8Array view into a larger buffer', () => {
    const big = Buffer.from('xx{"a":1}yy');
    const view = new Uint8Array(big.buffer, big.byteOffset + 2, 7);
    expect(decodePayload(view)).toMatchObject({ ok: true, value: { a: 1 } });
  });

  it('ignores an empty content type and sniffs', () => {
    expect(decodePayload(encode({ a: 1 }), { contentType: '' })).toMatchObject({ ok: true });
  });
});

describe('normalizeCbor edge cases', () => {
  it('copies scalars reached through unknown tags', () => {
    const v = new Map<unknown, unknown>([
      ['n', new Tag(5, 4001)],
      ['s', new Tag('x', 4002)],
      ['u', new Tag(undefined, 4003)],
      ['deep', new Tag(new Tag(new Map([['k', new Tag(1.5, 4004)]]), 4005), 4006)],
    ]);
    expect(decodePayload(encode(v))).toEqual({
      ok: true,
      value: { n: 5, s: 'x', deep: { k: 1.5 } },
      encoding: 'cbor',
    });
  });

  it('refuses a non-finite number behind a tag with its path', () => {
    const v = new Map<unknown, unknown>([['a', [1, new Tag(NaN, 4001)]]]);
    expectReject(decodePayload(encode(v)), 'schema', /^\/a\/1: non-finite/);
  });

  it('refuses values with no JSON form', () => {
    expectReject(decodePayload(encode({ r: /x/ })), 'schema', /unsupported/);
  });
});
