// Validation and shaping of telemetry queries (raw pages and date_bin buckets).
import { TELEMETRY_AGGREGATES } from '@drover/contracts';

/** Aggregates a bucket query may ask for. */
export const AGGREGATES = TELEMETRY_AGGREGATES;
/** One of `AGGREGATES`. */
export type Aggregate = (typeof AGGREGATES)[number];

/** Most buckets one query may return. */
export const MAX_BUCKETS = 10_000;

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };
const BUCKET = /^([1-9]\d{0,5})([smhd])$/;

/** `"1m"` → 60 seconds; `null` for anything else (units s, m, h, d). */
export function parseBucket(bucket: string): number | null {
  const m = BUCKET.exec(bucket);
  if (m === null) return null;
  return Number(m[1]) * (UNIT_SECONDS[m[2] as string] as number);
}

/** A checked time range. */
export interface TimeRange {
  /** Inclusive start, epoch ms. */
  fromMs: number;
  /** Exclusive end, epoch ms. */
  toMs: number;
}

/** Parses `from`/`to` (RFC 3339); an error message when invalid or reversed. */
export function parseRange(from: string, to: string): TimeRange | string {
  const fromMs = Date.parse(from);
  const toMs = Date.parse(to);
  if (Number.isNaN(fromMs) || Number.isNaN(toMs)) return 'from and to must be RFC 3339 times';
  if (toMs <= fromMs) return 'to must be after from';
  return { fromMs, toMs };
}

/** Checks a bucket query's size; an error message when it would return too many buckets. */
export function checkBucketCount(range: TimeRange, bucketSeconds: number): string | null {
  const count = (range.toMs - range.fromMs) / (bucketSeconds * 1000);
  return count > MAX_BUCKETS ? `more than ${MAX_BUCKETS} buckets: widen bucket` : null;
}

/** Position after the last row of a page. */
export interface RawCursor {
  /** ts of the last row, RFC 3339 with microseconds as Postgres printed it. */
  ts: string;
  /** msg_id of the last row. */
  msgId: string;
}

/** Opaque cursor text. */
export function encodeCursor(c: RawCursor): string {
  return Buffer.from(JSON.stringify([c.ts, c.msgId])).toString('base64url');
}

/** Reads a cursor; `null` when it was not made by `encodeCursor`. */
export function decodeCursor(text: string): RawCursor | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
    if (!Array.isArray(v) || v.length !== 2) return null;
    const [ts, msgId] = v as unknown[];
    if (typeof ts !== 'string' || typeof msgId !== 'string' || Number.isNaN(Date.parse(ts))) {
      return null;
    }
    return { ts, msgId };
  } catch (err) {
    // Not base64 JSON: a forged or truncated cursor, the caller answers 400.
    void err;
    return null;
  }
}
