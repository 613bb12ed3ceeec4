import { Type } from '@sinclair/typebox';

/** Why a device message was dropped (published in `telemetry.rejected`, counted in metrics). */
export const REJECT_REASONS = [
  'too_large',
  'bad_encoding',
  'invalid_utf8',
  'too_deep',
  'bad_json',
  'bad_cbor',
  'schema',
  'unknown_schema_version',
  'bad_timestamp',
  'bad_topic',
  'unknown_device',
  'wrong_tenant',
  'wrong_device_type',
  'decommissioned',
] as const;

/** One of `REJECT_REASONS`. */
export const RejectReason = Type.Union(REJECT_REASONS.map((r) => Type.Literal(r)));
export type RejectReason = (typeof REJECT_REASONS)[number];

/** A rejection: the reason code plus a short human detail (never the payload itself). */
export interface Rejection {
  /** Always false. */
  ok: false;
  /** Machine-readable reason. */
  reason: RejectReason;
  /** Human-readable detail, ≤ 300 characters. */
  detail: string;
}

const MAX_DETAIL = 300;

/** Builds a `Rejection`, truncating the detail (it may quote device-controlled keys). */
export function reject(reason: RejectReason, detail: string): Rejection {
  return {
    ok: false,
    reason,
    detail: detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail,
  };
}
