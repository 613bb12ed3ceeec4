// Per-caller rate limits, counted in Redis so every gateway replica shares the budget.
import { type Naming } from '@drover/contracts';
import { RateLimitedError } from '@drover/service-kit';
import rateLimit from '@fastify/rate-limit';
import { type FastifyInstance } from 'fastify';
import type Redis from 'ioredis';
import './fastify-types';

/** Rate-limit settings. */
export interface RateLimitSettings {
  /** Requests allowed per caller (tenant + sub) per window. */
  max: number;
  /** Window length in milliseconds. */
  windowMs: number;
}

/**
 * Registers the limiter on `app` (the /api scope). It runs at preValidation: after the auth
 * hook (so the key is the caller, not an address) and before validation and idempotency.
 */
export async function registerRateLimit(
  app: FastifyInstance,
  redis: Redis,
  naming: Naming,
  settings: RateLimitSettings,
): Promise<void> {
  await app.register(rateLimit, {
    global: true,
    hook: 'preValidation',
    max: settings.max,
    timeWindow: settings.windowMs,
    redis,
    nameSpace: `${naming.redisKey('ratelimit')}:`,
    // A Redis outage must not take the API down with it: requests pass unlimited meanwhile.
    skipOnError: true,
    keyGenerator: (request) =>
      request.principal ? `${request.principal.tenant}:${request.principal.sub}` : request.ip,
    errorResponseBuilder: (_request, context) =>
      new RateLimitedError('rate_limited', `rate limit exceeded, retry in ${context.after}`),
  });
}
