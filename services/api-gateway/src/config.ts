// The gateway's configuration, from the environment only (validated at start, fail fast).
import { CommonConfig, loadConfig } from '@drover/service-kit';
import { type Static, Type } from '@sinclair/typebox';

/** Environment variables the gateway reads (plus CommonConfig). */
export const GatewayConfigSchema = Type.Object({
  ...CommonConfig,
  // The gateway owns no data: it reaches services over NATS, never their databases.
  DATABASE_URL: Type.Optional(Type.String({ minLength: 1 })),
  API_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 8080 }),
  API_HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  AUTH_JWKS_URL: Type.Optional(Type.String({ pattern: '^https?://' })),
  AUTH_JWKS_FILE: Type.Optional(Type.String({ minLength: 1 })),
  AUTH_ISSUER: Type.String({ minLength: 1, default: 'drover-dev' }),
  AUTH_AUDIENCE: Type.String({ minLength: 1, default: 'drover-api' }),
  /** Requests per caller (tenant + sub) per window. */
  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 6000 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 100, default: 60_000 }),
  /** How long the gateway waits for a service's answer before a 503. */
  RPC_TIMEOUT_MS: Type.Integer({ minimum: 50, default: 5000 }),
  /** Interval of SSE heartbeat comments. */
  SSE_HEARTBEAT_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** Lifetime of the in-process GET-device cache (invalidated by device events); 0 = off. */
  DEVICE_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  DEVICE_CACHE_MAX: Type.Integer({ minimum: 1, default: 10_000 }),
  /** Largest request body accepted. */
  BODY_LIMIT_BYTES: Type.Integer({ minimum: 1024, default: 1_048_576 }),
});

/** The gateway's validated configuration. */
export type GatewayConfig = Static<typeof GatewayConfigSchema>;

/** Reads and checks the configuration; throws `ConfigError` naming each bad variable. */
export function loadGatewayConfig(
  env: Record<string, string | undefined> = process.env,
): GatewayConfig {
  const config = loadConfig(GatewayConfigSchema, env);
  if (config.AUTH_JWKS_URL === undefined && config.AUTH_JWKS_FILE === undefined) {
    // Development default: the JWKS that `npm start` writes.
    return { ...config, AUTH_JWKS_FILE: '.drover/dev/jwks.json' };
  }
  return config;
}
