// The ingress hot path: bytes on a device channel → a validated, typed payload with its time
// normalized to epoch ms, or a reject reason. Runs per telemetry message, so it does one decode,
// one compiled schema check, and builds error details only on the rejection path.
import { type Static } from '@sinclair/typebox';
import { formatIssue } from '../payloads/checker';
import { type InboundChannel, inboundCheckers } from '../payloads/checkers';
import { type DecodeOptions, type PayloadEncoding, decodePayload } from './decode-payload';
import { type Rejection, reject } from './reject-reason';
import { parseTimestamp } from './timestamp';

/** Default tolerance for device clocks running ahead: 5 minutes. */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** Default maximum age of a device timestamp: 7 days (buffered offline data). */
export const DEFAULT_MAX_AGE_MS = 7 * 24 * 3_600_000;

/** Options for `parseDeviceMessage`. */
export interface ParseOptions extends DecodeOptions {
  /** How far ahead of `now` a `ts` may be (default 5 minutes). */
  maxFutureSkewMs?: number;
  /** How far behind `now` a `ts` may be (default 7 days). */
  maxAgeMs?: number;
  /** The receive time in epoch ms (default `Date.now()`); also the `tsMs` of a message without `ts`. */
  nowMs?: number;
}

/** The payload type for each inbound channel. */
export type InboundPayload<C extends InboundChannel> = Static<
  (typeof inboundCheckers)[C]['schema']
>;

/** A valid device message. */
export interface ParsedDeviceMessage<C extends InboundChannel> {
  /** Always true. */
  ok: true;
  /** The channel it arrived on. */
  channel: C;
  /** The validated payload. */
  payload: InboundPayload<C>;
  /** The device's `ts` in epoch ms (the receive time when the message has no `ts`: the last will). */
  tsMs: number;
  /** The wire encoding. */
  encoding: PayloadEncoding;
}

/** Result of `parseDeviceMessage`. */
export type ParseResult<C extends InboundChannel> = ParsedDeviceMessage<C> | Rejection;

function hasOwn(obj: object, key: string): boolean {
  return Object.prototype.hasOwnProperty.call(obj, key);
}

/** Decodes, validates against the channel's schema, checks `schema_version` and `ts`. Never throws. */
export function parseDeviceMessage<C extends InboundChannel>(
  channel: C,
  buf: Uint8Array,
  opts: ParseOptions = {},
): ParseResult<C> {
  const checker = hasOwn(inboundCheckers, channel) ? inboundCheckers[channel] : undefined;
  if (checker === undefined) return reject('bad_topic', `not a device channel: ${String(channel)}`);
  const decoded = decodePayload(buf, opts);
  if (!decoded.ok) return decoded;
  const value = decoded.value;

  // Checked before the schema: a v2 message fails v1's schema, but the honest reason is the version.
  const version = value.schema_version;
  if (version !== undefined && version !== 1 && Number.isInteger(version)) {
    return reject(
      'unknown_schema_version',
      `schema_version ${String(version)} is not supported (1)`,
    );
  }
  if (!checker.check(value)) {
    const issue = checker.firstError(value);
    return reject('schema', issue === null ? 'invalid payload' : formatIssue(issue));
  }

  const now = opts.nowMs ?? Date.now();
  let tsMs = now;
  if (value.ts !== undefined) {
    const parsed = parseTimestamp(value.ts);
    if (parsed === null) {
      return reject('bad_timestamp', 'ts must be an RFC 3339 date-time or integer epoch ms');
    }
    const maxFuture = opts.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
    const maxAge = opts.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    if (parsed > now + maxFuture) {
      return reject('bad_timestamp', `ts is ${parsed - now} ms in the future (max ${maxFuture})`);
    }
    if (parsed < now - maxAge) {
      const hint =
        typeof value.ts === 'number' && value.ts < 1e11 ? ' (epoch seconds? ts is ms)' : '';
      return reject('bad_timestamp', `ts is ${now - parsed} ms old (max ${maxAge})${hint}`);
    }
    tsMs = parsed;
  }
  return {
    ok: true,
    channel,
    payload: value as InboundPayload<C>,
    tsMs,
    encoding: decoded.encoding,
  };
}
