// The TELEMETRY bus message (written by mqtt-ingress, see docs/telemetry.md), checked again
// here: the stream is a trust boundary too, and a bad row must never poison a batch.

/** One telemetry row as the ingest writes it. */
export interface TelemetryRow {
  /** Tenant id. */
  tenant: string;
  /** Device type id. */
  deviceType: string;
  /** Device id. */
  deviceId: string;
  /** Device message id (dedup key with device id and ts). */
  msgId: string;
  /** Device time, epoch ms. */
  ts: number;
  /** Ingress receive time, epoch ms. */
  receivedAt: number;
  /** Metrics map, as JSON text for the jsonb column. */
  metricsJson: string;
}

const ID = /^[A-Za-z0-9_-]{1,64}$/;
// timestamptz covers far more, but anything outside these years is a bug upstream.
const MIN_TS = Date.UTC(1970, 0, 1);
const MAX_TS = Date.UTC(9999, 0, 1);

/** Epoch ms from integer ms or an RFC 3339 string (the contract's `Timestamp`), or null. */
function toMs(v: unknown): number | null {
  const ms = typeof v === 'string' ? Date.parse(v) : v;
  if (typeof ms !== 'number' || !Number.isInteger(ms) || ms < MIN_TS || ms >= MAX_TS) return null;
  return ms;
}

/** Validates one decoded bus message; returns the row or the reason it is unusable. */
export function toTelemetryRow(value: unknown): { row: TelemetryRow } | { error: string } {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return { error: 'not an object' };
  }
  const v = value as Record<string, unknown>;
  for (const key of ['tenant', 'device_type', 'device_id'] as const) {
    if (typeof v[key] !== 'string' || !ID.test(v[key])) return { error: `bad ${key}` };
  }
  if (typeof v.msg_id !== 'string' || v.msg_id.length < 1 || v.msg_id.length > 64) {
    return { error: 'bad msg_id' };
  }
  const ts = toMs(v.ts);
  const receivedAt = toMs(v.received_at);
  if (ts === null || receivedAt === null) return { error: 'bad ts or received_at' };
  const m = v.metrics;
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return { error: 'bad metrics' };
  return {
    row: {
      tenant: v.tenant as string,
      deviceType: v.device_type as string,
      deviceId: v.device_id as string,
      msgId: v.msg_id,
      ts,
      receivedAt,
      metricsJson: JSON.stringify(m),
    },
  };
}

/** Most records one batch message may hold. */
export const MAX_BATCH_RECORDS = 10_000;

/**
 * Rows of one bus message: a single record, or `{"batch": [record, …]}` (the ingress's batched
 * form). Unusable records are listed in `errors` (by index) and left out of `rows`.
 */
export function toTelemetryRows(value: unknown): { rows: TelemetryRow[]; errors: string[] } {
  const batch =
    typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as { batch?: unknown }).batch
      : undefined;
  if (batch === undefined) {
    const one = toTelemetryRow(value);
    return 'row' in one ? { rows: [one.row], errors: [] } : { rows: [], errors: [one.error] };
  }
  if (!Array.isArray(batch) || batch.length === 0 || batch.length > MAX_BATCH_RECORDS) {
    return { rows: [], errors: [`batch must be an array of 1 to ${MAX_BATCH_RECORDS} records`] };
  }
  const rows: TelemetryRow[] = [];
  const errors: string[] = [];
  batch.forEach((item, i) => {
    const one = toTelemetryRow(item);
    if ('row' in one) rows.push(one.row);
    else errors.push(`batch[${i}]: ${one.error}`);
  });
  return { rows, errors };
}

/** The newest row per device of a batch (by device time), for the latest-values cache. */
export function latestPerDevice(rows: readonly TelemetryRow[]): TelemetryRow[] {
  const latest = new Map<string, TelemetryRow>();
  for (const row of rows) {
    const key = `${row.tenant}/${row.deviceId}`;
    const seen = latest.get(key);
    if (seen === undefined || row.ts > seen.ts) latest.set(key, row);
  }
  return [...latest.values()];
}
