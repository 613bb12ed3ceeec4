import { createHash } from 'node:crypto';
import pino, { type DestinationStream, type Logger as PinoLogger, type Level } from 'pino';
import { getContext } from './context';
import { currentTraceId } from './tracing';

/** The service logger (pino). */
export type Logger = PinoLogger;

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** Service name, written on every line as `service`. */
  service: string;
  /** Minimum level (default `info`). */
  level?: Level | 'silent' | string;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

/** A JSON logger whose lines carry the current correlation, trace, device and tenant. */
export function createLogger(opts: LoggerOptions): Logger {
  const options: pino.LoggerOptions = {
    level: opts.level ?? 'info',
    base: { service: opts.service },
    messageKey: 'msg',
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: contextFields,
    // A safety net: a hardware id passed by mistake is logged as its hash, never in clear.
    redact: { paths: HARDWARE_ID_PATHS, censor: (value) => hashValue(value) },
  };
  // Synchronous stdout by default: a fatal line must be written before process.exit.
  return opts.destination ? pino(options, opts.destination) : pino(options);
}

const HARDWARE_ID_PATHS = ['hardware_id', 'hardwareId', '*.hardware_id', '*.hardwareId'];

function hashValue(value: unknown): unknown {
  return typeof value === 'string' ? hashId(value) : value;
}

function contextFields(): Record<string, string> {
  const ctx = getContext();
  const out: Record<string, string> = {};
  if (ctx.correlationId) out.correlation_id = ctx.correlationId;
  const traceId = currentTraceId();
  if (traceId) out.trace_id = traceId;
  if (ctx.deviceId) out.device_id = ctx.deviceId;
  if (ctx.tenant) out.tenant = ctx.tenant;
  return out;
}

/** A stable, non-reversible stand-in (sha256, 16 hex chars) for ids that must not be logged. */
export function hashId(value: string): string {
  return createHash('sha256').update(value).digest('hex').slice(0, 16);
}
