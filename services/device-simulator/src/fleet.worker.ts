// A worker thread playing one slice of the fleet (devices `from` to `to` of the plan). It
// reports to the main thread: `up` once its devices are online, `stats` every second (devices
// online, messages sent per channel since the last report), `error`; `stop` ends it cleanly.
import { parentPort, workerData } from 'node:worker_threads';
import { createLogger } from '@drover/observability';
import type { SimulatorConfig } from './config';
import { planFleet } from './domain/fleet-plan';
import { createLocalFleet, identityFor } from './fleet';

/** What the main thread gives a worker. */
export interface FleetWorkerData {
  /** The simulator's configuration. */
  config: SimulatorConfig;
  /** First device (index in the plan). */
  from: number;
  /** One past the last device. */
  to: number;
  /** Run id shared by the whole fleet. */
  runId: string;
}

/** Messages from a worker. */
export type FleetWorkerMessage =
  | { type: 'up' }
  | { type: 'stats'; online: number; sent: Record<string, number> }
  | { type: 'error'; message: string }
  | { type: 'stopped' };

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('fleet.worker.ts runs only as a worker thread');
  const { config, from, to, runId } = workerData as FleetWorkerData;
  const post = (m: FleetWorkerMessage) => port.postMessage(m);
  const logger = createLogger({
    service: 'device-simulator',
    level: config.LOG_LEVEL,
  }).child({ worker: `${from}-${to}` });
  const abort = new AbortController();
  const specs = planFleet({
    tenant: config.SIM_TENANT,
    size: config.FLEET_SIZE,
    seed: config.SIM_SEED,
    offset: config.SIM_FLEET_OFFSET,
  }).slice(from, to);
  let online = 0;
  let sent: Record<string, number> = {};
  const fleet = createLocalFleet(config, specs, {
    logger,
    runId,
    identity: await identityFor(config, { signal: abort.signal, logger }),
    onSent: (channel) => {
      sent[channel] = (sent[channel] ?? 0) + 1;
    },
    onConnection: (up) => {
      online += up ? 1 : -1;
    },
  });
  const report = () => {
    post({ type: 'stats', online, sent });
    sent = {};
  };
  const ticker = setInterval(report, 1000);
  port.on('message', (m: { type: string }) => {
    if (m.type !== 'stop') return;
    abort.abort();
    clearInterval(ticker);
    void fleet.stop().then(
      () => {
        report();
        post({ type: 'stopped' });
        port.close();
      },
      (err: unknown) => post({ type: 'error', message: String(err) }),
    );
  });
  fleet.bringUp(abort.signal).then(
    () => {
      report();
      post({ type: 'up' });
    },
    (err: unknown) => {
      if (!abort.signal.aborted) post({ type: 'error', message: String(err) });
    },
  );
}

void main().catch((err: unknown) => {
  parentPort?.postMessage({ type: 'error', message: String(err) } satisfies FleetWorkerMessage);
});
