// Idempotency records in Redis: `SET NX` takes the key for the first request, the answer then
// replaces the lock for 24 h. Redis is a cache here: losing it only loses the replay window.
import { type Naming } from '@drover/contracts';
import type Redis from 'ioredis';
import {
  decodeRecord,
  encodeRecord,
  IDEMPOTENCY_TTL_SECONDS,
  IN_FLIGHT_TTL_SECONDS,
  type IdempotencyRecord,
  type StoredResponse,
} from '../../domain/idempotency';

/** The outcome of trying to take a key. */
export type BeginResult = { started: true } | { started: false; existing: IdempotencyRecord };

/** Idempotency records of all tenants. */
export interface IdempotencyStore {
  /** Takes `key` for a request with `fingerprint`, or returns what holds it already. */
  begin(tenant: string, key: string, fingerprint: string): Promise<BeginResult>;
  /** Stores the first answer for replay (replacing the in-flight lock). */
  complete(
    tenant: string,
    key: string,
    fingerprint: string,
    response: StoredResponse,
  ): Promise<void>;
  /** Frees the key (the request failed on our side and may be retried). */
  release(tenant: string, key: string): Promise<void>;
}

/** A store on `redis` under the namespace's keys (`[ns:]drover:idem:<tenant>:<key>`). */
export function createIdempotencyStore(redis: Redis, naming: Naming): IdempotencyStore {
  const keyOf = (tenant: string, key: string) => naming.redisKey('idem', tenant, key);

  return {
    async begin(tenant, key, fingerprint) {
      const redisKey = keyOf(tenant, key);
      const lock = encodeRecord({ state: 'in_progress', fingerprint });
      // Two attempts: the holder may expire or be unreadable between our SET and GET.
      for (let attempt = 0; attempt < 2; attempt++) {
        const taken = await redis.set(redisKey, lock, 'EX', IN_FLIGHT_TTL_SECONDS, 'NX');
        if (taken === 'OK') return { started: true };
        const raw = await redis.get(redisKey);
        const existing = raw === null ? null : decodeRecord(raw);
        if (existing) return { started: false, existing };
        if (raw !== null) await redis.del(redisKey);
      }
      // Still contended after a retry: report it as in flight rather than run twice.
      return { started: false, existing: { state: 'in_progress', fingerprint } };
    },
    async complete(tenant, key, fingerprint, response) {
      const record = encodeRecord({ state: 'completed', fingerprint, response });
      await redis.set(keyOf(tenant, key), record, 'EX', IDEMPOTENCY_TTL_SECONDS);
    },
    async release(tenant, key) {
      await redis.del(keyOf(tenant, key));
    },
  };
}
