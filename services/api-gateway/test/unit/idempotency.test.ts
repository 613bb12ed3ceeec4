import {
  checkIdempotencyKey,
  IDEMPOTENCY_KEY_PATTERN,
  IDEMPOTENCY_TTL_SECONDS,
  IDEMPOTENT_METHODS,
  IN_FLIGHT_TTL_SECONDS,
  decideRepeat,
  decodeRecord,
  encodeRecord,
  type IdempotencyRecord,
  isIdempotentMethod,
  requestFingerprint,
  shouldStore,
} from '../../src/domain/idempotency';

describe('isIdempotentMethod', () => {
  it.each<[string, boolean]>([
    ['POST', true],
    ['put', true],
    ['PATCH', true],
    ['DELETE', true],
    ['GET', false],
    ['HEAD', false],
  ])('%s → %s', (method, expected) => {
    expect(isIdempotentMethod(method)).toBe(expected);
  });
});

describe('checkIdempotencyKey', () => {
  it.each<[string, string | string[] | undefined, ReturnType<typeof checkIdempotencyKey>]>([
    ['absent', undefined, { kind: 'absent' }],
    [
      'a uuid',
      '3f1e2d4c-aaaa-bbbb-cccc-0123456789ab',
      {
        kind: 'valid',
        key: '3f1e2d4c-aaaa-bbbb-cccc-0123456789ab',
      },
    ],
    ['empty', '', { kind: 'invalid' }],
    ['with a space', 'a b', { kind: 'invalid' }],
    ['non-ASCII', 'clé', { kind: 'invalid' }],
    ['too long', 'k'.repeat(256), { kind: 'invalid' }],
    ['repeated header', ['a', 'b'], { kind: 'invalid' }],
  ])('%s', (_name, header, expected) => {
    expect(checkIdempotencyKey(header)).toEqual(expected);
  });
});

describe('requestFingerprint', () => {
  const base = requestFingerprint('POST', '/api/v1/devices', { a: 1, b: [1, 2] });
  it.each<[string, string, string, unknown, boolean]>([
    ['same request', 'POST', '/api/v1/devices', { a: 1, b: [1, 2] }, true],
    ['keys reordered', 'post', '/api/v1/devices', { b: [1, 2], a: 1 }, true],
    ['other body', 'POST', '/api/v1/devices', { a: 2, b: [1, 2] }, false],
    ['array order matters', 'POST', '/api/v1/devices', { a: 1, b: [2, 1] }, false],
    ['other path', 'POST', '/api/v1/groups', { a: 1, b: [1, 2] }, false],
    ['other method', 'PUT', '/api/v1/devices', { a: 1, b: [1, 2] }, false],
  ])('%s', (_name, method, path, body, same) => {
    expect(requestFingerprint(method, path, body) === base).toBe(same);
  });

  it('treats a missing body as null', () => {
    expect(requestFingerprint('DELETE', '/x', undefined)).toBe(
      requestFingerprint('DELETE', '/x', null),
    );
  });
});

describe('decideRepeat', () => {
  const response = { status: 201, body: '{"device_id":"d1"}', contentType: 'application/json' };
  it.each<[string, IdempotencyRecord, string, ReturnType<typeof decideRepeat>]>([
    [
      'same request, done → replay',
      { state: 'completed', fingerprint: 'f1', response },
      'f1',
      {
        kind: 'replay',
        response,
      },
    ],
    [
      'same request, running → in progress',
      { state: 'in_progress', fingerprint: 'f1' },
      'f1',
      {
        kind: 'in_progress',
      },
    ],
    [
      'other request, done → reused',
      { state: 'completed', fingerprint: 'f1', response },
      'f2',
      {
        kind: 'key_reused',
      },
    ],
    [
      'other request, running → reused',
      { state: 'in_progress', fingerprint: 'f1' },
      'f2',
      {
        kind: 'key_reused',
      },
    ],
  ])('%s', (_name, existing, fingerprint, expected) => {
    expect(decideRepeat(existing, fingerprint)).toEqual(expected);
  });
});

describe('shouldStore', () => {
  it.each<[number, boolean]>([
    [200, true],
    [201, true],
    [404, true],
    [409, true],
    [500, false],
    [503, false],
  ])('%s → %s', (status, expected) => {
    expect(shouldStore(status)).toBe(expected);
  });
});

describe('encodeRecord / decodeRecord', () => {
  const completed: IdempotencyRecord = {
    state: 'completed',
    fingerprint: 'f',
    response: { status: 200, body: '{}', contentType: 'application/json' },
  };
  it.each<[string, IdempotencyRecord]>([
    ['in progress', { state: 'in_progress', fingerprint: 'f' }],
    ['completed', completed],
  ])('round-trips %s', (_name, record) => {
    expect(decodeRecord(encodeRecord(record))).toEqual(record);
  });

  it.each<[string, string]>([
    ['not JSON', '{'],
    ['JSON null', 'null'],
    ['a number', '7'],
    ['no fingerprint', '{"state":"in_progress"}'],
    ['unknown state', '{"state":"x","fingerprint":"f"}'],
    ['completed without response', '{"state":"completed","fingerprint":"f"}'],
    ['response not an object', '{"state":"completed","fingerprint":"f","response":3}'],
    ['response null', '{"state":"completed","fingerprint":"f","response":null}'],
    [
      'response missing body',
      '{"state":"completed","fingerprint":"f","response":{"status":200,"contentType":"x"}}',
    ],
  ])('rejects %s', (_name, raw) => {
    expect(decodeRecord(raw)).toBeNull();
  });
});

it('keeps answers 24 h and locks far shorter', () => {
  expect(IDEMPOTENCY_TTL_SECONDS).toBe(86_400);
  expect(IN_FLIGHT_TTL_SECONDS).toBeLessThan(IDEMPOTENCY_TTL_SECONDS);
  expect([...IDEMPOTENT_METHODS].sort()).toEqual(['DELETE', 'PATCH', 'POST', 'PUT']);
  expect(IDEMPOTENCY_KEY_PATTERN.test('k'.repeat(255))).toBe(true);
});
