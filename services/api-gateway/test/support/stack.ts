// Test harness: the real device-registry in-process plus a gateway on a fresh namespace,
// Postgres schema and Redis prefix, with a throwaway JWKS issuer.
import { type Bus } from '@drover/bus';
import { createLogger } from '@drover/observability';
import {
  cleanupNamespace,
  createTestAuth,
  createTestDb,
  dropTestDb,
  TEST_DATABASE_URL,
  TEST_NATS_URL,
  TEST_REDIS_URL,
  testNamespace,
  withTestBus,
  type TestAuth,
} from '@drover/testing';
import Redis from 'ioredis';
import { startDeviceRegistry, type DeviceRegistry } from '../../../device-registry/src/app';
import { buildGateway, type GatewayApp } from '../../src/app';
import { type GatewayConfig, loadGatewayConfig } from '../../src/config';

/** A running registry + gateway for one test file. */
export interface Stack {
  /** The namespace everything lives under. */
  ns: string;
  /** The gateway (not listening; use inject, or listen yourself). */
  app: GatewayApp;
  /** The gateway's configuration. */
  config: GatewayConfig;
  /** The token issuer. */
  auth: TestAuth;
  /** The gateway's bus. */
  bus: Bus;
  /** The gateway's Redis client. */
  redis: Redis;
  /** A bearer header for `tenant` with `scope`. */
  bearer(scope: string, tenant?: string, sub?: string): Promise<{ authorization: string }>;
  /** Builds another gateway on the same servers with config overrides (closed by stop). */
  extraGateway(env: Record<string, string>): Promise<GatewayApp>;
  /** Stops and removes everything. */
  stop(): Promise<void>;
}

const silent = () =>
  createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' });

/** Starts the stack; pass gateway environment overrides in `env`. */
export async function startStack(label: string, env: Record<string, string> = {}): Promise<Stack> {
  const ns = testNamespace(label);
  const schema = `${ns}_registry`;
  // Undo steps, run in reverse by stop() (or at once if starting fails half-way).
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of undo.reverse()) await step();
  };
  try {
    const auth = await createTestAuth();
    undo.push(() => auth.close());
    undo.push(async () => dropTestDb(await createTestDb(schema), schema));
    // The streams first (the setup step of `npm start`), then the registry on them.
    const bus = await withTestBus(ns);
    undo.push(() => bus.close());
    undo.push(() => cleanupNamespace(ns, { bus }));
    const registry: DeviceRegistry = await startDeviceRegistry(
      {
        NATS_URL: TEST_NATS_URL,
        DATABASE_URL: TEST_DATABASE_URL,
        REDIS_URL: TEST_REDIS_URL,
        DROVER_NAMESPACE: ns,
        DB_SCHEMA: schema,
        OUTBOX_POLL_MS: 50,
        DB_POOL_MAX: 4,
      },
      { logger: silent() },
    );
    undo.push(() => registry.stop());
    const redis = new Redis(TEST_REDIS_URL);
    undo.push(() => redis.quit());
    const baseEnv = {
      NATS_URL: TEST_NATS_URL,
      REDIS_URL: TEST_REDIS_URL,
      DROVER_NAMESPACE: ns,
      AUTH_JWKS_URL: auth.jwksUrl,
      AUTH_ISSUER: auth.issuer,
      AUTH_AUDIENCE: auth.audience,
      API_HOST: '127.0.0.1',
      API_PORT: '0',
      SSE_HEARTBEAT_MS: '200',
      RPC_TIMEOUT_MS: '3000',
    };
    const build = async (overrides: Record<string, string>) => {
      const config = loadGatewayConfig({ ...baseEnv, ...env, ...overrides });
      const app = buildGateway(config, { bus, redis, logger: silent() });
      undo.push(() => app.close());
      await app.ready();
      return { config, app };
    };
    const { config, app } = await build({});
    return {
      ns,
      app,
      config,
      auth,
      bus,
      redis,
      async bearer(scope, tenant = 'acme', sub = 'user-1') {
        return { authorization: `Bearer ${await auth.sign({ sub, tenant, scope })}` };
      },
      async extraGateway(overrides) {
        return (await build(overrides)).app;
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
