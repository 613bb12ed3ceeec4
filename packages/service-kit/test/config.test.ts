import { Type } from '@sinclair/typebox';
import { CommonConfig, ConfigError, loadConfig } from '../src';

const Schema = Type.Object({
  ...CommonConfig,
  HTTP_PORT: Type.Integer({ minimum: 1, maximum: 65535, default: 8080 }),
  BATCH_SIZE: Type.Integer({ minimum: 1 }),
  FEATURE_X: Type.Boolean({ default: false }),
  JWT_SECRET: Type.Optional(Type.String({ minLength: 32 })),
  ARCHIVE_URL: Type.Optional(Type.String({ pattern: '^s3://' })),
});

const good = {
  NATS_URL: 'nats://127.0.0.1:4222',
  DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
  BATCH_SIZE: '500',
};

function issuesOf(env: Record<string, string | undefined>): string[] {
  try {
    loadConfig(Schema, env);
  } catch (err) {
    if (err instanceof ConfigError) return err.issues.map((i) => `${i.variable}: ${i.reason}`);
    throw err;
  }
  return [];
}

describe('loadConfig', () => {
  it('converts strings and applies defaults', () => {
    const cfg = loadConfig(Schema, { ...good, FEATURE_X: 'true', UNRELATED: 'x' });
    expect(cfg).toEqual({
      ...good,
      BATCH_SIZE: 500,
      HTTP_PORT: 8080,
      FEATURE_X: true,
      LOG_LEVEL: 'info',
      OPS_PORT: 9464,
      DROVER_NAMESPACE: '',
    });
    expect(cfg).not.toHaveProperty('UNRELATED');
  });

  it('reads NATS_REPLICAS as a number and leaves it unset by default', () => {
    expect(loadConfig(Schema, { ...good, NATS_REPLICAS: '3' }).NATS_REPLICAS).toBe(3);
    expect(loadConfig(Schema, good)).not.toHaveProperty('NATS_REPLICAS');
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig(Schema, { ...good, HTTP_PORT: '', OTEL_EXPORTER_OTLP_ENDPOINT: '' })).toEqual(
      expect.objectContaining({ HTTP_PORT: 8080 }),
    );
  });

  const bad: [string, Record<string, string | undefined>, string[]][] = [
    ['missing required', { ...good, NATS_URL: undefined }, ['NATS_URL: required']],
    ['empty required', { ...good, REDIS_URL: '' }, ['REDIS_URL: required']],
    ['not an integer', { ...good, HTTP_PORT: 'abc' }, ['HTTP_PORT: expected integer, got "abc"']],
    ['a fraction', { ...good, BATCH_SIZE: '1.5' }, ['BATCH_SIZE: expected integer, got "1.5"']],
    [
      'out of range',
      { ...good, HTTP_PORT: '70000' },
      ['HTTP_PORT: expected integer to be less or equal to 65535, got "70000"'],
    ],
    [
      'not a boolean',
      { ...good, FEATURE_X: 'maybe' },
      ['FEATURE_X: expected boolean, got "maybe"'],
    ],
    [
      'not a level',
      { ...good, LOG_LEVEL: 'loud' },
      ['LOG_LEVEL: expected one of fatal, error, warn, info, debug, trace, silent, got "loud"'],
    ],
    [
      'replicas a cluster cannot have',
      { ...good, NATS_REPLICAS: '7' },
      ['NATS_REPLICAS: expected integer to be less or equal to 5, got "7"'],
    ],
    [
      'bad namespace',
      { ...good, DROVER_NAMESPACE: 'Bad-NS' },
      [expect.stringMatching(/^DROVER_NAMESPACE: expected string to match '.*', got "Bad-NS"$/)],
    ],
    [
      'secret value never echoed',
      { ...good, JWT_SECRET: 'short' },
      ['JWT_SECRET: expected string length greater or equal to 32'],
    ],
    [
      'password in a URL never echoed',
      { ...good, ARCHIVE_URL: 'https://bob:hunter2@archive.example' },
      ['ARCHIVE_URL: expected string to match \'^s3://\', got "https://bob:***@archive.example"'],
    ],
    [
      'every bad variable at once',
      { HTTP_PORT: 'x', BATCH_SIZE: '0' },
      [
        'NATS_URL: required',
        'DATABASE_URL: required',
        'REDIS_URL: required',
        'HTTP_PORT: expected integer, got "x"',
        'BATCH_SIZE: expected integer to be greater or equal to 1, got "0"',
      ],
    ],
  ];

  it.each(bad)('rejects %s, naming the variable', (_name, env, expected) => {
    expect(issuesOf(env)).toEqual(expected);
  });

  it('puts every issue into the error message', () => {
    expect(() => loadConfig(Schema, { HTTP_PORT: 'abc' })).toThrow(
      /NATS_URL: required.*DATABASE_URL: required.*HTTP_PORT: expected integer, got "abc"/,
    );
  });
});
