export {
  testNamespace,
  withTestBus,
  cleanupNamespace,
  deleteKeysByPrefix,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  TEST_TELEMETRY_MAX_BYTES,
} from './namespace';
export type { TestBusOptions, CleanupOptions } from './namespace';
export { createTestDb, dropTestDb, TEST_DATABASE_URL } from './test-db';
export type { TestDbOptions } from './test-db';
export { waitFor } from './wait-for';
export type { WaitForOptions } from './wait-for';
export { freePort, portAccepts } from './ports';
export { serverProcess } from './server-process';
export type { ServerProcess, ServerSpec } from './server-process';
export { startPrivateNats, startPrivateNatsCluster } from './private-nats';
export type {
  PrivateNats,
  PrivateNatsCluster,
  PrivateNatsClusterOptions,
  PrivateNatsOptions,
} from './private-nats';
export { startPrivateRedis } from './private-redis';
export type { PrivateRedis } from './private-redis';
export { startPrivateMosquitto } from './private-mosquitto';
export type { PrivateMosquitto, PrivateMosquittoOptions } from './private-mosquitto';
export { startPrivatePostgres } from './private-postgres';
export type { PrivatePostgres, PrivatePostgresOptions } from './private-postgres';
export { createTestAuth } from './test-auth';
export type { TestAuth, TestAuthOptions, SignOptions } from './test-auth';
