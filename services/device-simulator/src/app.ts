// The simulator: registers (or enrolls) the fleet, brings devices up in waves and keeps them
// living until stopped; past SIM_DEVICES_PER_THREAD devices they live in worker threads, one
// slice each. Everything is started in the background so the ops server answers from the start.
import { setMaxListeners } from 'node:events';
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { type Bus, connectBus } from '@drover/bus';
import { type Logger, type Metrics, createMetrics } from '@drover/observability';
import type { CertificateAuthority } from '@drover/pki';
import type { SimulatorConfig } from './config';
import { type SimDeviceSpec, planFleet } from './domain/fleet-plan';
import { createRandom, seedOf } from './domain/random';
import { createLocalFleet, identityFor } from './fleet';
import type { FleetWorkerData, FleetWorkerMessage } from './fleet.worker';
import type { DeviceIdentitySource } from './identity-source';
import { enrollFleet, registerFleet } from './registration';
import type { VirtualDevice } from './virtual-device';

export { otaOptions } from './fleet';

/** The service name (logs, metrics, NATS connection). */
export const SERVICE_NAME = 'device-simulator';

/** Collaborators of the simulator. */
export interface SimulatorDeps {
  /** Logger. */
  logger: Logger;
  /** Metrics (default: a fresh registry). */
  metrics?: Metrics;
  /** How devices reach the broker (default: the plain broker at MQTT_URL, or provisioning). */
  identity?: DeviceIdentitySource;
  /** Bootstrap CA for SIM_PROVISIONING (default: the one in PKI_DIR). */
  bootstrapCa?: CertificateAuthority;
}

/** A running simulator. */
export interface DeviceSimulator {
  /** Resolves when every device has been registered and is online; rejects if that fails. */
  up: Promise<void>;
  /** Devices of the fleet living in this thread (none when they live in workers). */
  devices: readonly VirtualDevice[];
  /** Worker threads playing the fleet (0 = all in this thread). */
  workers: number;
  /** Devices online now. */
  onlineCount(): number;
  /** Readiness checks for the ops server (ready when the whole fleet is online). */
  checks: Record<string, () => Promise<boolean>>;
  /** Stops telemetry, publishes offline status, ends every client and the bus. */
  stop(): Promise<void>;
}

/** Worker threads for the configuration: SIM_WORKERS, or (-1) one per slice of devices. */
export function workerCount(config: SimulatorConfig): number {
  if (config.SIM_WORKERS >= 0) return Math.min(config.SIM_WORKERS, config.FLEET_SIZE);
  if (config.FLEET_SIZE <= config.SIM_DEVICES_PER_THREAD) return 0;
  const slices = Math.ceil(config.FLEET_SIZE / config.SIM_DEVICES_PER_THREAD);
  return Math.min(slices, Math.max(1, availableParallelism()));
}

/** Starts the simulator described by `config`. */
export async function startDeviceSimulator(
  config: SimulatorConfig,
  deps: SimulatorDeps,
): Promise<DeviceSimulator> {
  const { logger } = deps;
  const metrics = deps.metrics ?? createMetrics({ service: SERVICE_NAME });
  const abort = new AbortController();
  // One listener per pending retry sleep: a wave of them is expected, not a leak.
  setMaxListeners(0, abort.signal);
  const bus: Bus | null = config.SIM_REGISTER
    ? await connectBus({
        url: config.NATS_URL as string,
        name: SERVICE_NAME,
        namespace: config.DROVER_NAMESPACE,
        logger,
      })
    : null;
  const specs = planFleet({
    tenant: config.SIM_TENANT,
    size: config.FLEET_SIZE,
    seed: config.SIM_SEED,
    offset: config.SIM_FLEET_OFFSET,
  });
  const runId = Date.now().toString(36);
  const workers = deps.identity ? 0 : workerCount(config);
  metrics.gauge('drover_sim_devices_connected', 'Simulated devices online').set(0);
  const slice =
    workers > 0
      ? workerFleet(config, { workers, runId, logger, metrics })
      : threadFleet(config, specs, {
          identity:
            deps.identity ??
            (await identityFor(config, {
              bootstrapCa: deps.bootstrapCa,
              signal: abort.signal,
              logger,
            })),
          runId,
          logger,
          metrics,
        });

  const bringUp = async () => {
    if (bus) await admit(bus, config, specs, abort.signal, logger);
    await slice.bringUp(abort.signal);
    logger.info(
      { event: 'sim.online', devices: specs.length, workers },
      `fleet online (${specs.length} devices, ${workers || 'no'} worker threads)`,
    );
  };
  const up = bringUp();
  // Stop aborts the bring-up; that is not a failure worth a log line.
  up.catch((err: unknown) => {
    if (!abort.signal.aborted) logger.error({ err }, 'bringing the fleet up failed');
  });

  return {
    up,
    devices: slice.devices,
    workers,
    onlineCount: () => slice.online(),
    checks: {
      fleet: () => Promise.resolve(specs.length > 0 ? slice.online() === specs.length : true),
    },
    async stop() {
      abort.abort();
      await slice.stop();
      await bus?.close();
    },
  };
}

/** The part of the fleet the main thread drives. */
interface Slice {
  devices: VirtualDevice[];
  online(): number;
  bringUp(signal: AbortSignal): Promise<void>;
  stop(): Promise<void>;
}

/** Makes the devices known to the platform: enrolled for provisioning, or registered. */
async function admit(
  bus: Bus,
  config: SimulatorConfig,
  specs: SimDeviceSpec[],
  signal: AbortSignal,
  logger: Logger,
): Promise<void> {
  const common = { tenant: config.SIM_TENANT, deviceType: config.SIM_DEVICE_TYPE, signal, logger };
  if (config.SIM_PROVISIONING) {
    // Provisioning registers the devices; their hardware ids must be enrolled for it.
    await enrollFleet(bus, specs, {
      ...common,
      rand: createRandom(seedOf(config.SIM_SEED, 'enrollment')),
    });
    logger.info({ event: 'sim.enrolled', devices: specs.length }, 'fleet enrolled');
    return;
  }
  const registered = await registerFleet(bus, specs, {
    ...common,
    concurrency: config.SIM_WAVE_SIZE,
    rand: createRandom(seedOf(config.SIM_SEED, 'registration')),
  });
  logger.info({ event: 'sim.registered', ...registered }, 'fleet registered');
}

/** Every device in this thread. */
function threadFleet(
  config: SimulatorConfig,
  specs: SimDeviceSpec[],
  o: { identity: DeviceIdentitySource; runId: string; logger: Logger; metrics: Metrics },
): Slice {
  const connected = o.metrics.gauge('drover_sim_devices_connected', 'Simulated devices online');
  const sent = o.metrics.counter('drover_sim_messages_sent_total', 'Messages published', [
    'channel',
  ]);
  let online = 0;
  const fleet = createLocalFleet(config, specs, {
    logger: o.logger,
    identity: o.identity,
    runId: o.runId,
    onSent: (channel) => sent.inc({ channel }),
    onConnection: (up) => {
      online += up ? 1 : -1;
      connected.set(online);
    },
  });
  return {
    devices: fleet.devices,
    online: () => online,
    bringUp: (signal) => fleet.bringUp(signal),
    stop: () => fleet.stop(),
  };
}

/** The worker script: built JS next to this file, or the package's dist (tests run sources). */
function workerScript(): string {
  const here = path.join(__dirname, 'fleet.worker.js');
  return existsSync(here) ? here : path.join(__dirname, '..', 'dist', 'fleet.worker.js');
}

/** The fleet split over worker threads, contiguous slices of the plan. */
function workerFleet(
  config: SimulatorConfig,
  o: { workers: number; runId: string; logger: Logger; metrics: Metrics },
): Slice {
  const connected = o.metrics.gauge('drover_sim_devices_connected', 'Simulated devices online');
  const sent = o.metrics.counter('drover_sim_messages_sent_total', 'Messages published', [
    'channel',
  ]);
  const per = Math.ceil(config.FLEET_SIZE / o.workers);
  const online: number[] = [];
  const threads: { worker: Worker; up: Promise<void>; stopped: Promise<void> }[] = [];
  const script = workerScript();
  for (let i = 0; i < o.workers; i++) {
    const data: FleetWorkerData = {
      config,
      from: i * per,
      to: Math.min(config.FLEET_SIZE, (i + 1) * per),
      runId: o.runId,
    };
    const worker = new Worker(script, { workerData: data });
    online.push(0);
    let markUp: () => void = () => undefined;
    let fail: (err: Error) => void = () => undefined;
    let markStopped: () => void = () => undefined;
    const up = new Promise<void>((resolve, reject) => {
      markUp = resolve;
      fail = reject;
    });
    const stopped = new Promise<void>((resolve) => (markStopped = resolve));
    worker.on('message', (m: FleetWorkerMessage) => {
      if (m.type === 'stats') {
        online[i] = m.online;
        connected.set(online.reduce((a, b) => a + b, 0));
        for (const [channel, n] of Object.entries(m.sent)) sent.inc({ channel }, n);
      } else if (m.type === 'up') markUp();
      else if (m.type === 'stopped') markStopped();
      else if (m.type === 'error') {
        o.logger.error({ worker: i, error: m.message }, 'simulator worker failed');
        fail(new Error(`worker ${i}: ${m.message}`));
      }
    });
    worker.on('error', (err) => {
      o.logger.error({ err, worker: i }, 'simulator worker crashed');
      fail(err);
    });
    worker.on('exit', () => markStopped());
    // The bring-up promise is awaited by bringUp; a failure after it is only logged.
    up.catch(() => undefined);
    threads.push({ worker, up, stopped });
  }
  return {
    devices: [],
    online: () => online.reduce((a, b) => a + b, 0),
    bringUp: async () => {
      await Promise.all(threads.map((t) => t.up));
    },
    async stop() {
      for (const t of threads) t.worker.postMessage({ type: 'stop' });
      await Promise.all(
        threads.map(async (t) => {
          const timer = setTimeout(() => void t.worker.terminate(), 15_000);
          await t.stopped;
          clearTimeout(timer);
          await t.worker.terminate();
        }),
      );
      online.fill(0);
      connected.set(0);
    },
  };
}
