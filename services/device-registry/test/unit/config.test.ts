import { loadRegistryConfig } from '../../src/config';

const required = {
  NATS_URL: 'nats://127.0.0.1:4222',
  DATABASE_URL: 'postgres://postgres@127.0.0.1/postgres',
  REDIS_URL: 'redis://127.0.0.1:6379',
};

describe('registry config', () => {
  it('applies defaults', () => {
    expect(loadRegistryConfig(required)).toMatchObject({
      DB_SCHEMA: 'device_registry',
      CACHE_TTL_S: 30,
      CACHE_REFRESH_INTERVAL_MS: 10_000,
      CACHE_REFRESH_BELOW_TTL_S: 10,
      LAST_SEEN_COALESCE_S: 60,
      DROVER_NAMESPACE: '',
    });
  });

  it('converts numbers from the environment', () => {
    expect(loadRegistryConfig({ ...required, CACHE_TTL_S: '5' }).CACHE_TTL_S).toBe(5);
  });

  it.each([
    ['a missing server URL', { ...required, NATS_URL: undefined }, /NATS_URL/],
    ['a bad schema name', { ...required, DB_SCHEMA: 'Bad-Name' }, /DB_SCHEMA/],
    ['a non-integer', { ...required, LAST_SEEN_COALESCE_S: 'soon' }, /LAST_SEEN_COALESCE_S/],
  ])('fails fast naming the variable for %s', (_name, env, variable) => {
    expect(() => loadRegistryConfig(env)).toThrow(variable);
  });
});
