import { type Kysely, sql } from 'kysely';
import { type TelemetryRow } from '../../domain/telemetry-record';
import { type Aggregate } from '../../domain/telemetry-query';
import { type TelemetryDb } from './telemetry.table';

/**
 * Inserts a batch in one statement (one array per column through unnest, so the statement
 * and its plan stay the same whatever the batch size). Returns the rows actually inserted.
 */
export async function insertBatch(db: Kysely<TelemetryDb>, rows: readonly TelemetryRow[]) {
  const res = await sql`
    INSERT INTO telemetry (tenant, device_id, msg_id, ts, received_at, metrics)
    SELECT u.tenant, u.device_id, u.msg_id, to_timestamp(u.ts / 1000.0),
           to_timestamp(u.ra / 1000.0), u.metrics
    FROM unnest(
      ${rows.map((r) => r.tenant)}::text[], ${rows.map((r) => r.deviceId)}::text[],
      ${rows.map((r) => r.msgId)}::text[], ${rows.map((r) => r.ts)}::float8[],
      ${rows.map((r) => r.receivedAt)}::float8[], ${rows.map((r) => r.metricsJson)}::jsonb[]
    ) AS u(tenant, device_id, msg_id, ts, ra, metrics)
    ON CONFLICT (device_id, msg_id, ts) DO NOTHING`.execute(db);
  return Number(res.numAffectedRows ?? 0n);
}

/** A raw page query. */
export interface RawQuery {
  /** Tenant scope. */
  tenant: string;
  /** Device id. */
  deviceId: string;
  /** Inclusive start. */
  from: Date;
  /** Exclusive end. */
  to: Date;
  /** Page size. */
  limit: number;
  /** Keyset position (after this ts and msg_id). */
  after?: { ts: string; msgId: string };
}

/** One raw row, as the API shows it. */
export interface RawItem {
  /** Device time. */
  ts: string;
  /** Receive time. */
  received_at: string;
  /** Message id. */
  msg_id: string;
  /** Metrics. */
  metrics: Record<string, unknown>;
}

const isoMicro = (col: string) =>
  sql<string>`to_char(${sql.ref(col)} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** Rows of one device in [from, to), ordered by (ts, msg_id), `limit + 1` to detect more. */
export async function queryRaw(db: Kysely<TelemetryDb>, q: RawQuery): Promise<RawItem[]> {
  let query = db
    .selectFrom('telemetry')
    .select([
      isoMicro('ts').as('ts'),
      isoMicro('received_at').as('received_at'),
      'msg_id',
      'metrics',
    ])
    .where('tenant', '=', q.tenant)
    .where('device_id', '=', q.deviceId)
    .where('ts', '>=', q.from)
    .where('ts', '<', q.to);
  if (q.after) {
    const { ts, msgId } = q.after;
    query = query.where(sql<boolean>`(ts, msg_id) > (${ts}::timestamptz, ${msgId})`);
  }
  // Qualified: a bare `ts` in ORDER BY names the to_char output column, which sorted every row
  // of the range as text (about 200 ms for a day) instead of reading the primary key in order.
  const rows = await query
    .orderBy(sql.ref('telemetry.ts'))
    .orderBy('msg_id')
    .limit(q.limit + 1)
    .execute();
  return rows as RawItem[];
}

/** A bucketed query. */
export interface BucketQuery {
  /** Tenant scope. */
  tenant: string;
  /** Device id. */
  deviceId: string;
  /** Inclusive start. */
  from: Date;
  /** Exclusive end. */
  to: Date;
  /** Metric name. */
  metric: string;
  /** Bucket width in seconds. */
  bucketSeconds: number;
  /** Aggregate. */
  agg: Aggregate;
}

/**
 * Buckets with at least one value of the metric, aligned to the Unix epoch. The inner query
 * reads each row's value once and yields narrow rows; `OFFSET 0` keeps it a separate plan node,
 * so the planner cannot guess the bucket count from ts statistics (it took every row for a
 * bucket, sorted all of them and spilled to disk) and aggregates in a small hash table instead.
 */
export async function queryBuckets(db: Kysely<TelemetryDb>, q: BucketQuery) {
  const num = sql`CASE WHEN jsonb_typeof(v) = 'number' THEN v::float8 END`;
  const aggregates: Record<Aggregate, ReturnType<typeof sql>> = {
    avg: sql`to_jsonb(avg(${num}))`,
    min: sql`to_jsonb(min(${num}))`,
    max: sql`to_jsonb(max(${num}))`,
    sum: sql`to_jsonb(sum(${num}))`,
    count: sql`to_jsonb(count(v))`,
    last: sql`(array_agg(v ORDER BY ts DESC))[1]`,
  };
  const res = await sql<{ ts: string; value: unknown }>`
    SELECT to_char(b AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS ts,
           ${aggregates[q.agg]} AS value
    FROM (
      SELECT date_bin(make_interval(secs => ${q.bucketSeconds}), ts, 'epoch'::timestamptz) AS b,
             ts, metrics -> ${q.metric} AS v
      FROM telemetry
      WHERE tenant = ${q.tenant} AND device_id = ${q.deviceId}
        AND ts >= ${q.from} AND ts < ${q.to}
      OFFSET 0
    ) r
    WHERE v IS NOT NULL
    GROUP BY b
    ORDER BY b`.execute(db);
  return res.rows;
}
