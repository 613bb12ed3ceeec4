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
  /**
   * Replicas of every stream (`num_replicas`). Unset: not part of the configuration, so a new
   * stream gets the server's default (1) and an existing one keeps the count it has. With
   * {@link ensureStreams}, the bus's `replicas` is the default.
   */
  replicas?: number;
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
  const file = {
    storage: StorageType.File,
    ...(opts.replicas !== undefined && { num_replicas: opts.replicas }),
  };
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

/** How long a stream whose replicas were changed may take to have them current. */
const REPLICAS_CURRENT_WAIT_MS = 15_000;

/**
 * Waits until the stream has a leader and `replicas - 1` followers that are current: right after
 * its count changed, reads and writes get "no responders" (503) until they are. Gives up with a
 * warning after {@link REPLICAS_CURRENT_WAIT_MS} (the first reads and writes may then fail).
 */
async function awaitReplicasCurrent(bus: Bus, name: string, replicas: number): Promise<void> {
  const until = Date.now() + REPLICAS_CURRENT_WAIT_MS;
  for (;;) {
    const c = (await bus.jsm.streams.info(name)).cluster;
    const followers = c?.replicas ?? [];
    if (
      replicas === 1 ||
      (c?.leader !== undefined &&
        c.leader !== '' &&
        followers.length === replicas - 1 &&
        followers.every((r) => r.current))
    ) {
      return;
    }
    if (Date.now() >= until) {
      bus.logger.warn(
        { event: 'bus.stream_replicas_lagging', stream: name, replicas, cluster: c },
        'stream replicas not current yet',
      );
      return;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Creates the stream, or updates it when it exists and its config differs; a count of replicas
 * that changed is waited for (see awaitReplicasCurrent).
 */
export async function ensureStream(bus: Bus, want: DroverStreamConfig): Promise<StreamInfo> {
  let have: StreamInfo;
  try {
    have = await bus.jsm.streams.info(want.name);
  } catch (err) {
    if (!isNotFound(err)) throw err;
    bus.logger.info({ event: 'bus.stream_created', stream: want.name }, 'creating stream');
    const created = await bus.jsm.streams.add(want);
    if (created.config.num_replicas > 1) {
      await awaitReplicasCurrent(bus, want.name, created.config.num_replicas);
    }
    return created;
  }
  if (!differs(want, have.config)) return have;
  bus.logger.info({ event: 'bus.stream_updated', stream: want.name }, 'updating stream');
  const updated = await bus.jsm.streams.update(want.name, { ...have.config, ...want });
  if (updated.config.num_replicas !== have.config.num_replicas) {
    await awaitReplicasCurrent(bus, want.name, updated.config.num_replicas);
  }
  return updated;
}

/** Idempotent create-or-update of every stream of the namespace. */
export async function ensureStreams(bus: Bus, opts: StreamOptions = {}): Promise<void> {
  const replicas = opts.replicas ?? bus.replicas;
  for (const cfg of Object.values(streamConfigs(bus.naming, { ...opts, replicas }))) {
    await ensureStream(bus, cfg);
  }
}

/**
 * Brings the stream behind a key-value bucket (`KV_<bucket>`) or an object store
 * (`OBJ_<bucket>`) to the bus's `replicas`, when that is set (nats.js creates a missing one with
 * the count asked for, but binds an existing one as it is), and waits until its replicas are
 * current. Returns the stream's count.
 */
export async function ensureStoreReplicas(
  bus: Bus,
  kind: 'kv' | 'os',
  bucket: string,
): Promise<number> {
  const name = `${kind === 'kv' ? 'KV' : 'OBJ'}_${bucket}`;
  const info = await bus.jsm.streams.info(name);
  const want = bus.replicas;
  if (want === undefined) return info.config.num_replicas;
  if (info.config.num_replicas !== want) {
    bus.logger.info(
      { event: 'bus.stream_replicas', stream: name, from: info.config.num_replicas, to: want },
      'changing replicas',
    );
    await bus.jsm.streams.update(name, { ...info.config, num_replicas: want });
  }
  await awaitReplicasCurrent(bus, name, want);
  return want;
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
