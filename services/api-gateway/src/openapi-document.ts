// Produces the OpenAPI document from the app itself (routes and schemas), without connecting
// to anything: docs/openapi.json is generated from it and a test keeps the two equal.
import { type Bus } from '@drover/bus';
import { namespace } from '@drover/contracts';
import { createLogger } from '@drover/observability';
import Redis from 'ioredis';
import { buildGateway } from './app';
import { loadGatewayConfig } from './config';

/** The OpenAPI document the gateway serves at /docs/openapi.json. */
export async function buildOpenApiDocument(): Promise<Record<string, unknown>> {
  const config = loadGatewayConfig({
    NATS_URL: 'nats://127.0.0.1:4222',
    REDIS_URL: 'redis://127.0.0.1:6379',
    AUTH_JWKS_FILE: 'unused.json',
    DEVICE_CACHE_TTL_MS: '0',
  });
  // Never connected: building routes only needs the names, and no request is served.
  const redis = new Redis(config.REDIS_URL, { lazyConnect: true });
  const bus = { naming: namespace('') } as unknown as Bus;
  const app = buildGateway(config, {
    bus,
    redis,
    logger: createLogger({ service: 'openapi', level: 'silent' }),
  });
  try {
    await app.ready();
    return app.swagger() as unknown as Record<string, unknown>;
  } finally {
    await app.close();
    redis.disconnect();
  }
}
