// Composition of the gateway: buildGateway wires the HTTP app from its dependencies;
// startGateway also creates those dependencies and listens.
import { BusHealth, connectBus, type Bus } from '@drover/bus';
import { createLogger, createMetrics, type Logger, type Metrics } from '@drover/observability';
import sse from '@fastify/sse';
import { type TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { type FastifyBaseLogger, LogController } from 'fastify';
import Redis from 'ioredis';
import { startDeviceInvalidation } from './adapters/nats/device-invalidation';
import { createRegistryClient } from './adapters/nats/registry.client';
import { serviceHealth } from './adapters/nats/service-health';
import { createTenantEventSource } from './adapters/nats/tenant-events';
import { createIdempotencyStore } from './adapters/redis/idempotency.store';
import { registerAuth } from './auth/auth.hook';
import { createKeySource } from './auth/jwks';
import { createTokenVerifier, type TokenVerifier } from './auth/token-verifier';
import { type GatewayConfig } from './config';
import { ReadCache } from './domain/read-cache';
import { registerErrorHandling } from './http/error-handler';
import { registerIdempotency } from './http/idempotency.hook';
import { registerOpenApi } from './http/openapi';
import { registerOps, type ReadinessChecks } from './http/ops.router';
import { registerRateLimit } from './http/rate-limit';
import { registerValidation } from './http/validation';
import { correlationIdOf, registerRequestContext } from './http/request-context';
import { type ContextRouter } from './http/router.types';
import { apiRouters } from './http/routers';

/** Service name in logs, metrics and the NATS connection. */
export const SERVICE_NAME = 'api-gateway';
/** Prefix of every REST route. */
export const API_PREFIX = '/api/v1';

/** What buildGateway needs; main.ts (or a test) creates these. */
export interface GatewayDeps {
  /** NATS: RPC into services, the event stream, service readiness. */
  bus: Bus;
  /** Redis: idempotency records and rate-limit counters. */
  redis: Redis;
  /** Root logger. */
  logger: Logger;
  /** Metrics registry (default: a new one). */
  metrics?: Metrics;
  /** Token verifier (default: from the AUTH_* configuration). */
  verifier?: TokenVerifier;
  /** Routers under /api/v1 (default: every bounded context built so far). */
  routers?: ContextRouter[];
}

/** Builds the gateway's Fastify instance (not listening; `inject` works on it). */
export function buildGateway(config: GatewayConfig, deps: GatewayDeps) {
  const app = Fastify({
    // pino's Logger is what Fastify expects; only the declared generic differs.
    loggerInstance: deps.logger as FastifyBaseLogger,
    // One log line per request is too much at fleet scale; errors are logged by the handler.
    logController: new LogController({ disableRequestLogging: true }),
    // The logger's mixin adds correlation_id from the context; a child binding would repeat it.
    childLoggerFactory: (logger) => logger,
    genReqId: correlationIdOf,
    requestIdHeader: false,
    bodyLimit: config.BODY_LIMIT_BYTES,
    return503OnClosing: true,
  }).withTypeProvider<TypeBoxTypeProvider>();

  const routers = deps.routers ?? apiRouters;
  const metrics = deps.metrics ?? createMetrics({ service: SERVICE_NAME });
  const verifier = deps.verifier ?? defaultVerifier(config);
  const registry = createRegistryClient(deps.bus, { timeoutMs: config.RPC_TIMEOUT_MS });
  const events = createTenantEventSource(deps.bus);
  const deviceCache = new ReadCache<string>({
    max: config.DEVICE_CACHE_MAX,
    ttlMs: config.DEVICE_CACHE_TTL_MS,
  });
  if (deviceCache.enabled) {
    const invalidation = startDeviceInvalidation(deps.bus, deviceCache);
    app.addHook('onClose', async () => invalidation.stop());
  }

  registerValidation(app);
  registerErrorHandling(app);
  registerRequestContext(app);
  registerOps(app, { metrics, checks: readinessChecks(deps, routers) });
  registerOpenApi(app);

  void app.register(
    async (api) => {
      registerAuth(api, verifier);
      await registerRateLimit(api, deps.redis, deps.bus.naming, {
        max: config.RATE_LIMIT_MAX,
        windowMs: config.RATE_LIMIT_WINDOW_MS,
      });
      registerIdempotency(api, createIdempotencyStore(deps.redis, deps.bus.naming));
      await api.register(sse, { heartbeatInterval: config.SSE_HEARTBEAT_MS });
      for (const router of routers) {
        await api.register(router.plugin, { registry, bus: deps.bus, events, deviceCache });
      }
    },
    { prefix: API_PREFIX },
  );
  return app;
}

/** The gateway's Fastify instance. */
export type GatewayApp = ReturnType<typeof buildGateway>;

function defaultVerifier(config: GatewayConfig): TokenVerifier {
  return createTokenVerifier({
    getKey: createKeySource({ jwksUrl: config.AUTH_JWKS_URL, jwksFile: config.AUTH_JWKS_FILE }),
    issuer: config.AUTH_ISSUER,
    audience: config.AUTH_AUDIENCE,
  });
}

function readinessChecks(deps: GatewayDeps, routers: ContextRouter[]): ReadinessChecks {
  const checks: ReadinessChecks = {
    nats: BusHealth(deps.bus),
    redis: async () => (await deps.redis.ping()) === 'PONG',
  };
  for (const router of routers) {
    for (const { service, probeOp } of router.services) {
      checks[service] ??= serviceHealth(deps.bus, service, probeOp);
    }
  }
  return checks;
}

/** A running gateway. */
export interface RunningGateway {
  /** The Fastify instance. */
  app: GatewayApp;
  /** Base URL it listens on, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Stops taking requests and waits for those in flight (SSE streams are ended). */
  stopIntake(): Promise<void>;
  /** stopIntake, then closes Redis and drains NATS (those startGateway opened itself). */
  close(): Promise<void>;
}

/** Connects what is not given, builds the gateway and listens on API_HOST:API_PORT. */
export async function startGateway(
  config: GatewayConfig,
  given: Partial<GatewayDeps> = {},
): Promise<RunningGateway> {
  const logger = given.logger ?? createLogger({ service: SERVICE_NAME, level: config.LOG_LEVEL });
  const bus =
    given.bus ??
    (await connectBus({
      url: config.NATS_URL,
      name: SERVICE_NAME,
      logger,
      namespace: config.DROVER_NAMESPACE,
      replicas: config.NATS_REPLICAS,
    }));
  const redis = given.redis ?? new Redis(config.REDIS_URL, { enableAutoPipelining: true });
  const closeOwned = async () => {
    if (!given.redis) await redis.quit();
    if (!given.bus) await bus.drain();
  };
  const app = buildGateway(config, { ...given, bus, redis, logger });
  try {
    await app.listen({ port: config.API_PORT, host: config.API_HOST });
  } catch (err) {
    await app.close();
    await closeOwned();
    throw err;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address !== null ? address.port : config.API_PORT;
  const host = config.API_HOST === '0.0.0.0' ? '127.0.0.1' : config.API_HOST;
  let intakeStopped: Promise<void> | undefined;
  let closed: Promise<void> | undefined;
  const stopIntake = () => (intakeStopped ??= app.close());
  return {
    app,
    url: `http://${host}:${port}`,
    stopIntake,
    close: () =>
      (closed ??= (async () => {
        await stopIntake();
        await closeOwned();
      })()),
  };
}
