// Query operations for the api-gateway's GET /api/v1/devices/{id}/telemetry (docs/telemetry.md):
// `query_raw`, `query_buckets`, `get_latest` on iot.rpc.telemetry-ingest.*; schemas in contracts.
import { type Kysely } from 'kysely';
import { type Bus, type RpcServer, serveRpc } from '@drover/bus';
import {
  GetLatestRequest,
  QueryBucketsRequest,
  QueryRawRequest,
  TELEMETRY_RPC_SERVICE,
} from '@drover/contracts';
import { NotFoundError, ValidationError } from '@drover/service-kit';
import {
  checkBucketCount,
  decodeCursor,
  encodeCursor,
  parseBucket,
  parseRange,
} from '../domain/telemetry-query';
import { queryBuckets, queryRaw } from '../adapters/postgres/telemetry.repository';
import { type TelemetryDb } from '../adapters/postgres/telemetry.table';
import { type LatestStore } from '../adapters/redis/latest.store';

export { TELEMETRY_RPC_SERVICE, QueryRawRequest, QueryBucketsRequest, GetLatestRequest };

function range(req: { from: string; to: string }) {
  const r = parseRange(req.from, req.to);
  if (typeof r === 'string') throw new ValidationError('invalid_range', r);
  return r;
}

/** Serves the query operations. */
export function serveTelemetryRpc(
  bus: Bus,
  db: Kysely<TelemetryDb>,
  latest: LatestStore,
): Promise<RpcServer> {
  return serveRpc(bus, {
    service: TELEMETRY_RPC_SERVICE,
    version: '1.0.0',
    endpoints: {
      query_raw: {
        schema: QueryRawRequest,
        async handler(req: QueryRawRequest) {
          const r = range(req);
          const after = req.cursor === undefined ? undefined : decodeCursor(req.cursor);
          if (after === null) throw new ValidationError('invalid_cursor', 'cursor not recognized');
          const limit = req.limit ?? 100;
          const rows = await queryRaw(db, {
            tenant: req.tenant,
            deviceId: req.device_id,
            from: new Date(r.fromMs),
            to: new Date(r.toMs),
            limit,
            after,
          });
          const items = rows.slice(0, limit);
          const last = items[items.length - 1];
          const more = rows.length > limit && last !== undefined;
          return {
            items,
            next_cursor: more ? encodeCursor({ ts: last.ts, msgId: last.msg_id }) : null,
          };
        },
      },
      query_buckets: {
        schema: QueryBucketsRequest,
        async handler(req: QueryBucketsRequest) {
          const r = range(req);
          const seconds = parseBucket(req.bucket);
          if (seconds === null) {
            throw new ValidationError('invalid_bucket', 'bucket like 30s, 1m, 1h or 1d');
          }
          const tooMany = checkBucketCount(r, seconds);
          if (tooMany !== null) throw new ValidationError('too_many_buckets', tooMany);
          const items = await queryBuckets(db, {
            tenant: req.tenant,
            deviceId: req.device_id,
            from: new Date(r.fromMs),
            to: new Date(r.toMs),
            metric: req.metric,
            bucketSeconds: seconds,
            agg: req.agg,
          });
          return { metric: req.metric, agg: req.agg, bucket: req.bucket, items };
        },
      },
      get_latest: {
        schema: GetLatestRequest,
        async handler(req: GetLatestRequest) {
          const v = await latest.get(req.tenant, req.device_id);
          if (v === null) throw new NotFoundError('telemetry_not_found', 'no telemetry cached');
          return { ts: new Date(v.ts).toISOString(), msg_id: v.msgId, metrics: v.metrics };
        },
      },
    },
  });
}
