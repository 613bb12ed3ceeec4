import {
  DiscardPolicy,
  nanos,
  RetentionPolicy,
  StorageType,
  type StreamConfig,
  type StreamInfo,
} from 'nats';
import { type Naming } from '@drover/contracts';
import { type Bus } from './connect';

const DAY_MS = 24 * 60 * 60 * 1000;

/** Logical stream names; the real name is `naming.stream(name)`. */
export const STREAMS = {
  EVENTS: 'EVENTS',
  TELEMETRY: 'TELEMETRY',
  DEVICE: 'DEVICE',
  COMMANDS: 'COMMANDS',
  DLQ: 'DLQ',
} as const;

/** One of the logical stream names in {@link STREAMS}. */
export type StreamName = (typeof STREAMS)[keyof typeof STREAMS];

/** Tunables of the stream set. */
export interface StreamOptions {
  /**
   * Byte cap of TELEMETRY (oldest discarded first). Default: `DROVER_TELEMETRY_MAX_BYTES`, else
   * 10 GiB without a namespace and 256 MiB with one (JetStream reserves the cap on disk per
   * stream, so many 10 GiB test namespaces would exhaust a shared server).
   */
  telemetryMaxBytes?: number;
  /** Age cap of TELEMETRY in ms; default 24 h. */
  telemetryMaxAgeMs?: number;
}

/** Stream configuration fields we set; the rest are server defaults. */
export type DroverStreamConfig = Partial<StreamConfig> & { name: string; subjects: string[] };

function defaultTelemetryMaxBytes(naming: Naming): number {
  const fromEnv = Number(process.env.DROVER_TELEMETRY_MAX_BYTES);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return fromEnv;
  return naming.ns ? 256 * 1024 ** 2 : 10 * 1024 ** 3;
}

/** The stream set of ARCHITECTURE.md, named for `naming`'s namespace. */
export function streamConfigs(
  naming: Naming,
  opts: StreamOptions = {},
): Record<StreamName, DroverStreamConfig> {
  const file = { storage: StorageType.File, num_replicas: 1 };
  return {
    EVENTS: {
      ...file,
      name: naming.stream(STREAMS.EVENTS),
      subjects: [naming.subject('iot.evt.>')],
      retention: RetentionPolicy.Limits,
      max_age: nanos(7 * DAY_MS),
      duplicate_window: nanos(2 * 60 * 1000),
    },
    TELEMETRY: {
      ...file,
      name: naming.stream(STREAMS.TELEMETRY),
      subjects: [naming.subject('iot.telemetry.>')],
      retention: RetentionPolicy.Limits,
      max_age: nanos(opts.telemetryMaxAgeMs ?? DAY_MS),
      max_bytes: opts.telemetryMaxBytes ?? defaultTelemetryMaxBytes(naming),
      discard: DiscardPolicy.Old,
    },
    DEVICE: {
      ...file,
      name: naming.stream(STREAMS.DEVICE),
      subjects: [naming.subject('iot.device.>')],
      retention: RetentionPolicy.Limits,
      max_age: nanos(7 * DAY_MS),
    },
    COMMANDS: {
      ...file,
      name: naming.stream(STREAMS.COMMANDS),
      subjects: [naming.subject('iot.cmd.>'), naming.subject('iot.desired.>')],
      retention: RetentionPolicy.Workqueue,
    },
    DLQ: {
      ...file,
      name: naming.stream(STREAMS.DLQ),
      subjects: [naming.subject('iot.dlq.>')],
      retention: RetentionPolicy.Limits,
      max_age: nanos(30 * DAY_MS),
    },
  };
}

/**
 * Maps a logical stream name (`EVENTS`) to the namespaced one; a name that is already
 * namespaced is returned as is, so callers may pass either.
 */
export function resolveStreamName(naming: Naming, stream: string): string {
  const configs = streamConfigs(naming);
  if (Object.values(configs).some((c) => c.name === stream)) return stream;
  return naming.stream(stream);
}

function differs(want: DroverStreamConfig, have: StreamConfig): boolean {
  return Object.entries(want).some(([key, value]) => {
    const current = (have as unknown as Record<string, unknown>)[key];
    return JSON.stringify(current) !== JSON.stringify(value);
  });
}

function isNotFound(err: unknown): boolean {
  const e = err as { message?: string; api_error?: { err_code?: number } };
  return e.api_error?.err_code === 10059 || /stream not found/i.test(e.message ?? '');
}

/** Creates the stream, or updates it when it exists and its config differs. */
export async function ensureStream(bus: Bus, want: DroverStreamConfig): Promise<StreamInfo> {
  let have: StreamInfo;
  try {
    have = await bus.jsm.streams.info(want.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    bus.logger.info({ event: 'bus.stream_created', stream: want.name }, 'creating stream');
    return bus.jsm.streams.add(want);
  }
  if (!differs(want, have.config)) return have;
  bus.logger.info({ event: 'bus.stream_updated', stream: want.name }, 'updating stream');
  return bus.jsm.streams.update(want.name, { ...have.config, ...want });
}

/** Idempotent create-or-update of every stream of the namespace. */
export async function ensureStreams(bus: Bus, opts: StreamOptions = {}): Promise<void> {
  for (const cfg of Object.values(streamConfigs(bus.naming, opts))) {
    await ensureStream(bus, cfg);
  }
}

/** Deletes every stream of the namespace (tests); missing streams are fine. */
export async function deleteStreams(bus: Bus): Promise<void> {
  for (const cfg of Object.values(streamConfigs(bus.naming))) {
    try {
      await bus.jsm.streams.delete(cfg.name);
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
}
