import { randomBytes } from 'node:crypto';
import { type Command, InvalidArgumentError } from 'commander';
import { type ApiClient } from '../api-client';
import { type CliIo, type CommonOptions } from '../context';
import { CliError } from '../errors';
import { firmwareKeyPaths, loadOrCreateFirmwareKey, signFirmware } from '../firmware-keys';
import { findRepoRoot } from '../repo-root';
import { type DeploymentView } from '../rollout-view';
import { type ActionRunner } from './command-kit';
import { type FirmwareView } from './firmware.command';
import { parseStages, watchDeployment } from './rollout.command';

// `drover demo`: a scripted tour against the running platform (`npm start`). It signs and
// registers a good firmware and rolls it out to the simulated fleet with live progress, then
// a bad one (its version contains `-bad`: the simulator fails it on SIM_OTA_BAD_VERSION_RATE,
// 10 % of devices by default) and watches the error-rate gate roll it back.

interface DemoOptions {
  deviceType: string;
  stages: number[];
  soak: number;
  maxErrorRate: number;
  interval: number;
  imageKib: number;
  timeout: number;
}

function parsePositive(input: string): number {
  const n = Number(input);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError('expected a number > 0');
  return n;
}

function parseRate(input: string): number {
  const n = Number(input);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError('expected a rate from 0 to 1');
  return n;
}

/** Versions unique per run and increasing across runs: good `3.<minute>.0`, bad `3.<minute>.1-bad`. */
export function demoVersions(nowMs: number): { good: string; bad: string } {
  const minute = Math.floor(nowMs / 60_000);
  return { good: `3.${minute}.0`, bad: `3.${minute}.1-bad` };
}

/** The `POST /firmware/deploy` body of one demo rollout. */
export function demoDeployBody(version: string, opts: DemoOptions): Record<string, unknown> {
  return {
    version,
    device_type: opts.deviceType,
    target: { filter: { device_type: opts.deviceType, connectivity: 'online' } },
    rollout_config: {
      stages: opts.stages,
      soak_duration_minutes: opts.soak,
      max_error_rate: opts.maxErrorRate,
      device_timeout_minutes: 2,
    },
  };
}

async function register(
  client: ApiClient,
  io: CliIo,
  version: string,
  opts: DemoOptions,
): Promise<FirmwareView> {
  const root = findRepoRoot(io.cwd);
  if (!root) throw new CliError(`no Drover repository above ${io.cwd}: run the demo inside it`);
  const { key } = loadOrCreateFirmwareKey(firmwareKeyPaths(root));
  const image = randomBytes(opts.imageKib * 1024);
  const fields = {
    version,
    device_type: opts.deviceType,
    ...signFirmware(image, key),
  };
  const form = new FormData();
  for (const [name, value] of Object.entries(fields)) form.append(name, String(value));
  form.append('image', new Blob([image]), `${opts.deviceType}-${version}.bin`);
  return client.request<FirmwareView>({
    method: 'POST',
    path: '/api/v1/firmware',
    form,
    timeoutMs: 120_000,
  });
}

async function rollout(
  client: ApiClient,
  io: CliIo,
  common: CommonOptions,
  version: string,
  opts: DemoOptions,
): Promise<DeploymentView> {
  const created = await client.request<{ deployment_id: string }>({
    method: 'POST',
    path: '/api/v1/firmware/deploy',
    body: demoDeployBody(version, opts),
  });
  io.stderr(`deployment ${created.deployment_id}\n`);
  return watchDeployment(client, io, created.deployment_id, {
    interval: opts.interval,
    json: common.json,
    redraw: false,
    timeoutS: opts.timeout,
  });
}

async function runDemo(client: ApiClient, io: CliIo, common: CommonOptions, opts: DemoOptions) {
  const say = (text: string) => io.stderr(`\n== ${text}\n`);
  const online = await client.request<{ items: unknown[] }>({
    method: 'GET',
    path: '/api/v1/devices',
    query: { device_type: opts.deviceType, connectivity: 'online', limit: 1 },
  });
  if (online.items.length === 0) {
    throw new CliError(
      `no ${opts.deviceType} device is online: start the platform and its simulated fleet ` +
        '(npm start) and wait until the fleet is up',
    );
  }
  const { good, bad } = demoVersions(Date.now());

  say(`1/4 signing and registering the good firmware ${good}`);
  const goodFw = await register(client, io, good, opts);
  io.stderr(`registered ${goodFw.firmware_id} (${goodFw.size} bytes, sha256 ${goodFw.sha256})\n`);

  say(`2/4 rolling ${good} out to every online ${opts.deviceType} in stages ${opts.stages}`);
  const first = await rollout(client, io, common, good, opts);
  io.stderr(`${good}: ${first.status}, ${first.succeeded}/${first.total_devices} updated\n`);
  if (first.status !== 'completed') {
    throw new CliError(`the good rollout ended ${first.status} (${first.reason ?? 'no reason'})`);
  }

  say(`3/4 signing and registering ${bad}: the simulator fails it on some devices`);
  await register(client, io, bad, opts);

  say(`4/4 rolling ${bad} out: the error-rate gate (${opts.maxErrorRate}) should roll it back`);
  const second = await rollout(client, io, common, bad, opts);
  io.stderr(
    `${bad}: ${second.status}${second.reason ? ` (${second.reason})` : ''}; ` +
      `${second.failed} failed, ${second.rolled_back} rolled back to ${good}\n`,
  );
  if (second.status !== 'rolled_back') {
    throw new CliError(`expected the bad rollout to roll back, it ended ${second.status}`);
  }
  say('done: a good firmware rolled out, a bad one caught and rolled back automatically');
}

/** `drover demo`. */
export function registerDemoCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const demo = program
    .command('demo')
    .description(
      'scripted tour against the running platform: a good rollout, then a bad one rolled back',
    )
    .option('--device-type <type>', 'device type of the fleet', 'sensor')
    .option('--stages <list>', 'cumulative percentages', parseStages, [10, 50, 100])
    .option('--soak <minutes>', 'soak per stage (fractions allowed)', parsePositive, 0.1)
    .option('--max-error-rate <rate>', 'rollback threshold', parseRate, 0.05)
    .option('--interval <seconds>', 'seconds between progress updates', parsePositive, 1)
    .option('--image-kib <n>', 'size of the generated images in KiB', parsePositive, 64)
    .option('--timeout <seconds>', 'give up on a rollout after this long', parsePositive, 900);
  run(demo, async (client, common) => {
    await runDemo(client, io, common, demo.opts<DemoOptions>());
  });
}
