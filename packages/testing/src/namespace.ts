import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { connectBus, ensureStreams, type Bus } from '@drover/bus';
import { namespace } from '@drover/contracts';
import { createLogger } from '@drover/observability';

/** Shared NATS of the dev/CI machine unless `NATS_URL` says otherwise. */
export const TEST_NATS_URL = process.env.NATS_URL ?? 'nats://127.0.0.1:4222';
/** Shared Redis of the dev/CI machine unless `REDIS_URL` says otherwise. */
export const TEST_REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
/** TELEMETRY byte cap in test namespaces: JetStream reserves max_bytes per stream on disk. */
export const TEST_TELEMETRY_MAX_BYTES = 64 * 1024 * 1024;

/**
 * A fresh namespace (`t_<label>_<random>`, matching `^[a-z][a-z0-9_]{0,30}$`) for one test
 * file: streams, subjects, Redis keys and schemas named under it cannot collide.
 */
export function testNamespace(label = 'test'): string {
  const clean = label
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 14);
  const ns = `t_${clean}_${randomBytes(5).toString('hex')}`;
  namespace(ns); // throws if the result is not a valid namespace
  return ns;
}

/** Options of {@link withTestBus}. */
export interface TestBusOptions {
  /** NATS URL (default the shared server). */
  url?: string;
  /** Create the namespace's streams (default true). */
  ensureStreams?: boolean;
  /** Connection name. */
  name?: string;
}

/** A bus on the namespace with its streams created (TELEMETRY capped for tests). */
export async function withTestBus(ns: string, opts: TestBusOptions = {}): Promise<Bus> {
  const bus = await connectBus({
    url: opts.url ?? TEST_NATS_URL,
    name: opts.name ?? `test-${ns}`,
    namespace: ns,
    logger: createLogger({ service: 'test', level: process.env.TEST_LOG_LEVEL ?? 'silent' }),
  });
  if (opts.ensureStreams ?? true) {
    await ensureStreams(bus, { telemetryMaxBytes: TEST_TELEMETRY_MAX_BYTES });
  }
  return bus;
}

/** Options of {@link cleanupNamespace}. */
export interface CleanupOptions {
  /** A bus to reuse (else one is opened on `natsUrl` and closed). */
  bus?: Bus;
  /** NATS URL when no bus is given. */
  natsUrl?: string;
  /** A Redis client to reuse (else one is opened on `redisUrl` and closed). */
  redis?: Redis;
  /** Redis URL when no client is given; `null` skips Redis. */
  redisUrl?: string | null;
}

/** Deletes every stream (incl. object stores, KV) named under `ns` and every Redis key with its prefix (SCAN + DEL). */
export async function cleanupNamespace(ns: string, opts: CleanupOptions = {}): Promise<void> {
  const naming = namespace(ns);
  const bus =
    opts.bus ??
    (await withTestBus(ns, { url: opts.natsUrl, ensureStreams: false, name: `cleanup-${ns}` }));
  try {
    const prefix = naming.stream('');
    // Object stores and KV buckets named under the namespace live in OBJ_/KV_ streams.
    const prefixes = prefix === '' ? [] : [prefix, `OBJ_${prefix}`, `KV_${prefix}`];
    const names: string[] = [];
    for await (const name of bus.jsm.streams.names()) {
      if (prefixes.some((p) => name.startsWith(p))) names.push(name);
    }
    for (const name of names) await bus.jsm.streams.delete(name);
  } finally {
    if (!opts.bus) await bus.close();
  }
  if (opts.redisUrl === null) return;
  const redis = opts.redis ?? new Redis(opts.redisUrl ?? TEST_REDIS_URL, { lazyConnect: true });
  try {
    await deleteKeysByPrefix(redis, `${ns}:`);
  } finally {
    if (!opts.redis) await redis.quit();
  }
}

/** Deletes every key starting with `prefix`, scanning in pages (never KEYS). */
export async function deleteKeysByPrefix(redis: Redis, prefix: string): Promise<number> {
  const pattern = `${prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  let cursor = '0';
  let deleted = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
    cursor = next;
    if (keys.length > 0) deleted += await redis.unlink(...keys);
  } while (cursor !== '0');
  return deleted;
}
