// /api/v1/devices/{id}/telemetry: raw pages and date_bin buckets, and the latest values, served
// by telemetry-ingest's query RPC after the registry confirms the device is the caller's.
import { rpcRequest } from '@drover/bus';
import {
  DeviceRegistryOps,
  GetLatestResponse,
  QueryBucketsResponse,
  QueryRawResponse,
  TELEMETRY_RPC_SERVICE,
  TelemetryAggregateSchema,
  TelemetryMetricName,
  TelemetryOps,
} from '@drover/contracts';
import { ValidationError } from '@drover/service-kit';
import { Type, type Static } from '@sinclair/typebox';
import { principalOf } from '../auth/auth.hook';
import { type ContextRouter } from './router.types';
import { IdParams, responses } from './schemas';

const tags = ['telemetry'];
const HOUR_MS = 3_600_000;
/** Longest range one query may span (a bigger one is a 400, not a slow scan). */
export const MAX_RANGE_MS = 31 * 24 * HOUR_MS;
const RPC_TIMEOUT_MS = 5000;
// RFC 3339 with a zone: Date.parse alone also takes "2026-01-01" and local times.
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/i;
const BUCKET = /^[1-9]\d{0,5}[smhd]$/;

const TelemetryQuery = Type.Object(
  {
    from: Type.Optional(Type.String({ description: 'RFC 3339 start (default: to - 1 h)' })),
    to: Type.Optional(Type.String({ description: 'RFC 3339 end, exclusive (default: now)' })),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
    cursor: Type.Optional(Type.String({ maxLength: 512, description: 'next_cursor of a page' })),
    metric: Type.Optional(TelemetryMetricName),
    bucket: Type.Optional(Type.String({ pattern: BUCKET.source, description: 'e.g. 30s, 1m, 1h' })),
    agg: Type.Optional(TelemetryAggregateSchema),
  },
  { additionalProperties: false },
);
type TelemetryQuery = Static<typeof TelemetryQuery>;

/** Checks and fills the range: RFC 3339, from < to, at most MAX_RANGE_MS. */
export function resolveRange(q: { from?: string; to?: string }, now = Date.now()) {
  for (const [name, v] of [
    ['from', q.from],
    ['to', q.to],
  ] as const) {
    if (v !== undefined && (!RFC3339.test(v) || Number.isNaN(Date.parse(v)))) {
      throw new ValidationError('invalid_range', `${name} must be an RFC 3339 time`);
    }
  }
  const toMs = q.to === undefined ? now : Date.parse(q.to);
  const fromMs = q.from === undefined ? toMs - HOUR_MS : Date.parse(q.from);
  if (fromMs >= toMs) throw new ValidationError('invalid_range', 'from must be before to');
  if (toMs - fromMs > MAX_RANGE_MS) {
    throw new ValidationError('invalid_range', 'the range may span at most 31 days');
  }
  return { from: new Date(fromMs).toISOString(), to: new Date(toMs).toISOString() };
}

function bucketArgs(q: TelemetryQuery) {
  const given = [q.metric, q.bucket, q.agg].filter((v) => v !== undefined).length;
  if (given === 0) return null;
  if (q.metric === undefined || q.bucket === undefined || q.agg === undefined) {
    throw new ValidationError('invalid_query', 'metric, bucket and agg go together');
  }
  if (q.cursor !== undefined) {
    throw new ValidationError('invalid_query', 'cursor is for raw pages only');
  }
  return { metric: q.metric, bucket: q.bucket, agg: q.agg };
}

/** Telemetry routes. */
export const telemetryRouter: ContextRouter = {
  name: 'telemetry',
  // Not a /readyz dependency: an ingest outage answers 503 on these routes only, and should not
  // take the whole API out of a load balancer.
  services: [],
  plugin: async (app, { registry, bus }) => {
    const ownDevice = (tenant: string, id: string, correlationId: string) =>
      registry.call(DeviceRegistryOps.getDeviceMeta, { tenant, device_id: id }, correlationId);
    const call = <T>(op: string, body: unknown, correlationId: string) =>
      rpcRequest<T>(bus, TELEMETRY_RPC_SERVICE, op, body, {
        timeoutMs: RPC_TIMEOUT_MS,
        correlationId,
      });

    app.get(
      '/devices/:id/telemetry',
      {
        config: { scope: 'telemetry:read' },
        schema: {
          tags,
          summary: 'Raw telemetry pages, or one metric aggregated in buckets (metric+bucket+agg)',
          params: IdParams,
          querystring: TelemetryQuery,
          response: responses({ 200: Type.Union([QueryRawResponse, QueryBucketsResponse]) }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        const q = request.query;
        const range = resolveRange(q);
        const buckets = bucketArgs(q);
        await ownDevice(tenant, request.params.id, request.id);
        const base = { tenant, device_id: request.params.id, ...range };
        if (buckets !== null) {
          return call(TelemetryOps.queryBuckets, { ...base, ...buckets }, request.id);
        }
        const page = {
          limit: q.limit ?? 100,
          ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        };
        return call(TelemetryOps.queryRaw, { ...base, ...page }, request.id);
      },
    );

    app.get(
      '/devices/:id/telemetry/latest',
      {
        config: { scope: 'telemetry:read' },
        schema: {
          tags,
          summary: 'The newest message of a device (404 when none is cached)',
          params: IdParams,
          response: responses({ 200: GetLatestResponse }, [404]),
        },
      },
      async (request) => {
        const { tenant } = principalOf(request);
        await ownDevice(tenant, request.params.id, request.id);
        return call(TelemetryOps.getLatest, { tenant, device_id: request.params.id }, request.id);
      },
    );
  },
};
