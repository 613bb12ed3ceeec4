import {
  ConflictError,
  deserializeError,
  DomainError,
  ForbiddenError,
  GoneError,
  InternalError,
  isTransient,
  NotFoundError,
  PayloadTooLargeError,
  RateLimitedError,
  serializeError,
  toHttpError,
  TransientError,
  UnauthorizedError,
  UnavailableError,
  ValidationError,
} from '../src';

const mapping: [string, unknown, number, string, string][] = [
  [
    'validation',
    new ValidationError('tags must be unique'),
    400,
    'validation_failed',
    'tags must be unique',
  ],
  [
    'validation with code',
    new ValidationError('bad_tag', 'tag too long'),
    400,
    'bad_tag',
    'tag too long',
  ],
  ['unauthorized', new UnauthorizedError(), 401, 'unauthorized', 'authentication required'],
  [
    'forbidden',
    new ForbiddenError('missing_scope', 'needs devices:write'),
    403,
    'missing_scope',
    'needs devices:write',
  ],
  [
    'not found',
    new NotFoundError('device_not_found', 'no device d1'),
    404,
    'device_not_found',
    'no device d1',
  ],
  ['conflict', new ConflictError('device_exists', 'd1 exists'), 409, 'device_exists', 'd1 exists'],
  [
    'gone',
    new GoneError('device_decommissioned', 'd1 is gone'),
    410,
    'device_decommissioned',
    'd1 is gone',
  ],
  ['too large', new PayloadTooLargeError(), 413, 'payload_too_large', 'payload too large'],
  ['rate limited', new RateLimitedError(), 429, 'rate_limited', 'too many requests'],
  [
    'unavailable',
    new UnavailableError('service_unavailable'),
    503,
    'service_unavailable',
    'temporarily unavailable',
  ],
  [
    'transient',
    new TransientError('redis timed out'),
    503,
    'temporarily_unavailable',
    'redis timed out',
  ],
  [
    'unknown error hides internals',
    new Error('password=hunter2 at db.ts:12'),
    500,
    'internal_error',
    'internal error',
  ],
  ['thrown string', 'boom', 500, 'internal_error', 'internal error'],
  [
    'framework validation',
    Object.assign(new Error('body/name must be string'), { statusCode: 400, validation: [] }),
    400,
    'validation_failed',
    'body/name must be string',
  ],
  [
    'framework body too large',
    Object.assign(new Error('Request body is too large'), { statusCode: 413 }),
    413,
    'payload_too_large',
    'Request body is too large',
  ],
  [
    'framework 5xx is internal',
    Object.assign(new Error('socket hang up'), { statusCode: 502 }),
    500,
    'internal_error',
    'internal error',
  ],
];

describe('toHttpError', () => {
  it.each(mapping)('maps %s', (_name, err, status, code, detail) => {
    expect(toHttpError(err, 'c-1')).toEqual({
      status,
      body: { error_code: code, detail, correlation_id: 'c-1' },
    });
  });
});

describe('serializeError / deserializeError', () => {
  const domain = mapping
    .map(([, err]) => err)
    .filter((e): e is DomainError => e instanceof DomainError);

  it.each(domain.map((e) => [e.name, e] as const))('round-trips %s', (_n, err) => {
    const back = deserializeError(JSON.parse(JSON.stringify(serializeError(err))));
    expect(back).toBeInstanceOf(err.constructor);
    expect(back).toBeInstanceOf(DomainError);
    expect({ code: back.code, status: back.status, detail: back.detail }).toEqual({
      code: err.code,
      status: err.status,
      detail: err.detail,
    });
    expect(isTransient(back)).toBe(isTransient(err));
  });

  it('keeps details', () => {
    const err = new ValidationError('invalid_body', 'bad', { field: 'tags' });
    expect(deserializeError(serializeError(err)).details).toEqual({ field: 'tags' });
  });

  it('keeps an unusual status on the nearest kind', () => {
    const teapot = deserializeError({ error_code: 'teapot', status: 418, detail: 'short' });
    expect(teapot).toBeInstanceOf(ValidationError);
    expect(teapot.status).toBe(418);
    const gateway = deserializeError({ error_code: 'upstream', status: 504, detail: 'slow' });
    expect(isTransient(gateway)).toBe(true);
    expect(gateway.status).toBe(504);
  });

  it('turns garbage into an internal error', () => {
    const err = deserializeError('nonsense');
    expect(err).toBeInstanceOf(InternalError);
    expect(err.code).toBe('internal_error');
  });
});

describe('isTransient', () => {
  const cases: [string, unknown, boolean][] = [
    ['TransientError', new TransientError('x'), true],
    ['UnavailableError', new UnavailableError(), true],
    ['marked by another copy of the package', { transient: true }, true],
    ['connection refused', Object.assign(new Error('x'), { code: 'ECONNREFUSED' }), true],
    ['NotFoundError', new NotFoundError('device_not_found', 'no'), false],
    ['ValidationError', new ValidationError(), false],
    ['plain Error', new Error('x'), false],
    ['undefined', undefined, false],
  ];
  it.each(cases)('%s → %s', (_name, err, expected) => {
    expect(isTransient(err)).toBe(expected);
  });

  it('keeps the cause without exposing it', () => {
    const cause = new Error('ECONNRESET from redis');
    const err = new TransientError('cache_unavailable', 'cache is down', undefined, { cause });
    expect(err.cause).toBe(cause);
    expect(toHttpError(err, 'c').body.detail).toBe('cache is down');
  });
});
