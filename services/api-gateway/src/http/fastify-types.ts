// Type augmentations of Fastify used across the gateway's routers and hooks.
import { type Scope } from '../domain/scopes';
import { type Principal } from '../domain/principal';

/** Per-request idempotency state set by the idempotency hook. */
export interface IdempotencyState {
  /** The client's Idempotency-Key. */
  key: string;
  /** Fingerprint of the request that took the key. */
  fingerprint: string;
  /** Tenant the key belongs to. */
  tenant: string;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Scope a route requires; routes without one are public (ops, docs). */
    scope?: Scope;
    /** `service`: the route hands Idempotency-Key to its service and is not stored here. */
    idempotency?: 'service';
  }
  interface FastifyRequest {
    /** The authenticated caller (set by the auth hook on /api routes). */
    principal: Principal | null;
    /** Set when this request took an Idempotency-Key and its answer must be stored. */
    idempotency: IdempotencyState | null;
  }
}
