// Latest values per device: a Redis hash {ts, msg_id, metrics}, written only when newer than
// what is there (Lua, atomic), so concurrent batches and redeliveries never move it back.
// Redis is a cache: a failure here is counted and the rows stay committed.
import { Redis } from 'ioredis';
import { type Naming } from '@drover/contracts';
import { type TelemetryRow } from '../../domain/telemetry-record';

const SET_IF_NEWER = `
local cur = redis.call('HGET', KEYS[1], 'ts')
if cur and tonumber(cur) >= tonumber(ARGV[1]) then return 0 end
redis.call('HSET', KEYS[1], 'ts', ARGV[1], 'msg_id', ARGV[2], 'metrics', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return 1`;

/** The latest values of one device. */
export interface LatestValues {
  /** Device time, epoch ms. */
  ts: number;
  /** Message id. */
  msgId: string;
  /** Metrics. */
  metrics: Record<string, unknown>;
}

/** Reads and writes the latest-values cache. */
export interface LatestStore {
  /** Records the newest rows of a batch (one per device). */
  record(rows: readonly TelemetryRow[]): Promise<void>;
  /** The latest values of a device, or null. */
  get(tenant: string, deviceId: string): Promise<LatestValues | null>;
  /** Closes the connection. */
  close(): Promise<void>;
}

/** Connects the store. */
export function createLatestStore(url: string, naming: Naming, ttlS: number): LatestStore {
  // Auto-pipelining: the per-row scripts of a batch leave in one socket write.
  const redis = new Redis(url, {
    maxRetriesPerRequest: 2,
    enableOfflineQueue: true,
    enableAutoPipelining: true,
  });
  redis.defineCommand('setLatestIfNewer', { numberOfKeys: 1, lua: SET_IF_NEWER });
  const key = (tenant: string, deviceId: string) =>
    naming.redisKey('telemetry', 'latest', tenant, deviceId);
  type WithScript = Redis & {
    setLatestIfNewer(k: string, ts: number, msgId: string, m: string, ttl: number): Promise<number>;
  };
  return {
    async record(rows) {
      if (rows.length === 0) return;
      const pipeline = redis.pipeline() as unknown as WithScript;
      for (const r of rows) {
        void pipeline.setLatestIfNewer(
          key(r.tenant, r.deviceId),
          r.ts,
          r.msgId,
          r.metricsJson,
          ttlS,
        );
      }
      const results = await (pipeline as unknown as ReturnType<Redis['pipeline']>).exec();
      const failed = results?.find(([err]) => err !== null);
      if (failed) throw failed[0];
    },
    async get(tenant, deviceId) {
      const h = await redis.hgetall(key(tenant, deviceId));
      if (h.ts === undefined || h.metrics === undefined) return null;
      return { ts: Number(h.ts), msgId: h.msg_id ?? '', metrics: JSON.parse(h.metrics) };
    },
    async close() {
      await redis.quit();
    },
  };
}
