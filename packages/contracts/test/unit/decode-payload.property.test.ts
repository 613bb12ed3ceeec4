import { REJECT_REASONS, decodePayload, parseDeviceMessage, DEVICE_CHANNELS } from '../../src';
import { Encoder } from 'cbor-x';
import fc from 'fast-check';

// A variable, not a literal: cbor-x's typings lack useTag259ForMaps.
const plainMaps = { useTag259ForMaps: false, useRecords: false };
const encoder = new Encoder(plainMaps);
const reasons: ReadonlySet<string> = new Set(REJECT_REASONS);

/** Encodes with cbor-x, or returns the error for values it cannot encode (they say nothing about decoding). */
function tryEncode(value: unknown): Uint8Array | Error {
  try {
    return encoder.encode(value);
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

function wellFormed(r: ReturnType<typeof decodePayload>): boolean {
  if (r.ok) return typeof r.value === 'object' && r.value !== null && !Array.isArray(r.value);
  // The last-resort catch inside decodePayload must never be what answered.
  return (
    reasons.has(r.reason) && r.detail.length <= 300 && !r.detail.startsWith('undecodable payload')
  );
}

const jsonish = fc.oneof(
  fc.constantFrom(...'{}[]",:0123456789eE.-+tfn \\\u00e9'.split('')),
  fc.constantFrom('1e309', '"a"', 'true', '\udc00'),
);

const contentTypes = fc.constantFrom(
  undefined,
  'application/json',
  'application/cbor',
  'text/plain',
  '',
);

describe('decodePayload never throws', () => {
  it('on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 512 }), contentTypes, (bytes, contentType) => {
        const r = decodePayload(bytes, contentType === undefined ? {} : { contentType });
        return wellFormed(r);
      }),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary bytes behind a map header (exercises the CBOR path)', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0xa0, max: 0xbf }),
        fc.uint8Array({ maxLength: 256 }),
        (head, rest) => {
          return wellFormed(decodePayload(Uint8Array.from([head, ...rest])));
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('on arbitrary text behind "{" (exercises the JSON path)', () => {
    fc.assert(
      // Mostly JSON punctuation, so brackets, strings, escapes and exponents interleave.
      fc.property(fc.array(jsonish, { maxLength: 128 }), (chars) => {
        return wellFormed(decodePayload(Buffer.from(`{${chars.join('')}`, 'utf8')));
      }),
      { numRuns: 500 },
    );
  });

  it('on arbitrary JSON-ish values in either encoding, with small limits', () => {
    fc.assert(
      fc.property(
        fc.anything({
          maxDepth: 6,
          withMap: true,
          withSet: true,
          withDate: true,
          withTypedArray: true,
          withBigInt: true,
          withNullPrototype: true,
        }),
        fc.integer({ min: 1, max: 8 }),
        (value, maxDepth) => {
          const cbor = tryEncode({ v: value });
          if (cbor instanceof Uint8Array && !wellFormed(decodePayload(cbor, { maxDepth }))) {
            return false;
          }
          const text = JSON.stringify({ v: value }, (_k, v: unknown) =>
            typeof v === 'bigint' ? v.toString() : v,
          );
          return text === undefined || wellFormed(decodePayload(Buffer.from(text), { maxDepth }));
        },
      ),
      { numRuns: 1000 },
    );
  });

  it('parseDeviceMessage never throws either', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...DEVICE_CHANNELS),
        fc.jsonValue({ maxDepth: 4 }),
        (channel, value) => {
          const r = parseDeviceMessage(
            channel,
            Buffer.from(JSON.stringify({ msg_id: 'm', ts: 0, schema_version: 1, x: value })),
          );
          return r.ok || reasons.has(r.reason);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('JSON and CBOR decode to the same value', () => {
  it('for arbitrary JSON objects', () => {
    fc.assert(
      fc.property(
        fc.dictionary(fc.string({ unit: 'grapheme' }), fc.jsonValue({ maxDepth: 5 })),
        (obj) => {
          // Round-trip through JSON text first: that is the value a JSON device would send.
          const text = JSON.stringify(obj);
          const value: unknown = JSON.parse(text);
          const fromJson = decodePayload(Buffer.from(text));
          const fromCbor = decodePayload(encoder.encode(value));
          expect(fromJson).toEqual({ ok: true, value, encoding: 'json' });
          expect(fromCbor).toEqual({ ok: true, value, encoding: 'cbor' });
          // Same key order too.
          if (fromJson.ok && fromCbor.ok) {
            expect(JSON.stringify(fromCbor.value)).toBe(JSON.stringify(fromJson.value));
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

function depthOf(v: unknown): number {
  if (Array.isArray(v)) return 1 + Math.max(0, ...v.map(depthOf));
  if (v !== null && typeof v === 'object') return 1 + Math.max(0, ...Object.values(v).map(depthOf));
  return 0;
}

describe('the depth limit is exact in both encodings', () => {
  it('accepts depth d with maxDepth d and refuses it with d - 1', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 6 })), (obj) => {
        const value: unknown = JSON.parse(JSON.stringify(obj));
        const d = depthOf(value);
        for (const buf of [Buffer.from(JSON.stringify(value)), encoder.encode(value)]) {
          expect(decodePayload(buf, { maxDepth: d }).ok).toBe(true);
          expect(decodePayload(buf, { maxDepth: d - 1 })).toMatchObject({
            ok: false,
            reason: 'too_deep',
          });
        }
      }),
      { numRuns: 300 },
    );
  });
});
