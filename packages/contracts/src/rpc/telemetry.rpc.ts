// The telemetry-ingest query operations (`query_raw`, `query_buckets`, `get_latest` on
// iot.rpc.telemetry-ingest.*), shared by the service and the api-gateway (docs/telemetry.md).
import { type Static, Type } from '@sinclair/typebox';

/** The RPC service name. */
export const TELEMETRY_RPC_SERVICE = 'telemetry-ingest';

/** Operation names. */
export const TelemetryOps = {
  queryRaw: 'query_raw',
  queryBuckets: 'query_buckets',
  getLatest: 'get_latest',
} as const;

/** Aggregates a bucket query may ask for. */
export const TELEMETRY_AGGREGATES = ['avg', 'min', 'max', 'sum', 'count', 'last'] as const;
/** One of `TELEMETRY_AGGREGATES`. */
export type TelemetryAggregate = (typeof TELEMETRY_AGGREGATES)[number];

const Id = Type.String({ pattern: '^[A-Za-z0-9_-]{1,64}$' });
const Time = Type.String({ minLength: 1, maxLength: 64 });

/** A metric name. */
export const TelemetryMetricName = Type.String({ pattern: '^[A-Za-z0-9_.-]{1,128}$' });
/** An aggregate, as a schema. */
export const TelemetryAggregateSchema = Type.Union(
  TELEMETRY_AGGREGATES.map((a) => Type.Literal(a)),
);

/** `query_raw` request. */
export const QueryRawRequest = Type.Object({
  tenant: Id,
  device_id: Id,
  from: Time,
  to: Time,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
});
/** `query_raw` request. */
export type QueryRawRequest = Static<typeof QueryRawRequest>;

/** One stored message. */
export const TelemetryItem = Type.Object({
  ts: Type.String({ format: 'date-time' }),
  received_at: Type.String({ format: 'date-time' }),
  msg_id: Type.String(),
  metrics: Type.Record(Type.String(), Type.Unknown()),
});
/** One stored message. */
export type TelemetryItem = Static<typeof TelemetryItem>;

/** `query_raw` response: a page ordered by (ts, msg_id). */
export const QueryRawResponse = Type.Object({
  items: Type.Array(TelemetryItem),
  next_cursor: Type.Union([Type.String(), Type.Null()]),
});
/** `query_raw` response. */
export type QueryRawResponse = Static<typeof QueryRawResponse>;

/** `query_buckets` request. */
export const QueryBucketsRequest = Type.Object({
  tenant: Id,
  device_id: Id,
  from: Time,
  to: Time,
  metric: TelemetryMetricName,
  bucket: Type.String({ maxLength: 8 }),
  agg: TelemetryAggregateSchema,
});
/** `query_buckets` request. */
export type QueryBucketsRequest = Static<typeof QueryBucketsRequest>;

/** `query_buckets` response: buckets holding at least one value, in time order. */
export const QueryBucketsResponse = Type.Object({
  metric: Type.String(),
  agg: TelemetryAggregateSchema,
  bucket: Type.String(),
  items: Type.Array(
    Type.Object({ ts: Type.String({ format: 'date-time' }), value: Type.Unknown() }),
  ),
});
/** `query_buckets` response. */
export type QueryBucketsResponse = Static<typeof QueryBucketsResponse>;

/** `get_latest` request. */
export const GetLatestRequest = Type.Object({ tenant: Id, device_id: Id });
/** `get_latest` request. */
export type GetLatestRequest = Static<typeof GetLatestRequest>;

/** `get_latest` response: the newest message's metrics (from the cache). */
export const GetLatestResponse = Type.Object({
  ts: Type.String({ format: 'date-time' }),
  msg_id: Type.String(),
  metrics: Type.Record(Type.String(), Type.Unknown()),
});
/** `get_latest` response. */
export type GetLatestResponse = Static<typeof GetLatestResponse>;
