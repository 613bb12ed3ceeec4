// The shape of a bounded context's router (see routers.ts for the list).
import { type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { type Bus } from '@drover/bus';
import { type RegistryClient } from '../adapters/nats/registry.client';
import { type TenantEventSource } from '../adapters/nats/tenant-events';
import { type ReadCache } from '../domain/read-cache';

/** What the routers get: the service clients and the bus. */
export interface RouterDeps {
  /** The device-registry over NATS. */
  registry: RegistryClient;
  /** The bus, for routers that need more than a client. */
  bus: Bus;
  /** Subscriptions to a tenant's domain events (SSE). */
  events: TenantEventSource;
  /** Serialized GET-device answers, invalidated by device events (see domain/read-cache). */
  deviceCache: ReadCache<string>;
}

/** One bounded context's routes. */
export interface ContextRouter {
  /** Context name (OpenAPI tag). */
  name: string;
  /** Registers the routes (paths relative to /api/v1). */
  plugin: FastifyPluginAsyncTypebox<RouterDeps>;
  /** NATS services the context calls, each with an operation to probe for /readyz. */
  services: { service: string; probeOp: string }[];
}
