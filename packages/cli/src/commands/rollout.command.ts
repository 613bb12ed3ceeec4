import { type Command, InvalidArgumentError } from 'commander';
import { type ApiClient } from '../api-client';
import { type CliIo, type CommonOptions } from '../context';
import { CliError } from '../errors';
import { formatTime, orDash, renderJson, renderTable } from '../output';
import { collectTags, parseLimit } from '../parse';
import { type DeploymentView, FINAL_STATUSES, renderRollout } from '../rollout-view';
import { type ActionRunner } from './command-kit';

interface CreateOptions {
  version: string;
  deviceType: string;
  device?: string[];
  group?: string;
  filter?: string;
  stages?: number[];
  soak?: number;
  maxErrorRate?: number;
  maxOfflineRate?: number;
  minDevicesPerStage?: number;
  deviceTimeout?: number;
  minSample?: number;
  rate?: number;
  allowDowngrade?: boolean;
  idempotencyKey?: string;
  watch?: boolean;
  interval: number;
}

/** Parses `--stages 1,5,10,25,100`. */
export function parseStages(input: string): number[] {
  const stages = input.split(',').map((s) => Number(s.trim()));
  if (stages.length === 0 || stages.some((n) => !Number.isFinite(n) || n <= 0 || n > 100)) {
    throw new InvalidArgumentError('expected comma-separated percentages, e.g. 1,5,10,25,100');
  }
  return stages;
}

function parseNumber(input: string): number {
  const n = Number(input);
  if (input.trim() === '' || !Number.isFinite(n) || n < 0) {
    throw new InvalidArgumentError('expected a number >= 0');
  }
  return n;
}

function parseRate(input: string): number {
  const n = parseNumber(input);
  if (n > 1) throw new InvalidArgumentError('expected a fraction from 0 to 1, e.g. 0.02');
  return n;
}

function parseCount(input: string): number {
  const n = Number(input);
  if (!Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError('expected an integer >= 1');
  return n;
}

function parseInterval(input: string): number {
  const n = parseNumber(input);
  if (n < 0.1) throw new InvalidArgumentError('expected seconds >= 0.1');
  return n;
}

/** The target: exactly one of --device, --group, --filter. */
export function buildTarget(opts: Pick<CreateOptions, 'device' | 'group' | 'filter'>) {
  const given = [opts.device?.length ? 1 : 0, opts.group ? 1 : 0, opts.filter ? 1 : 0];
  if (given.reduce((a, b) => a + b, 0) !== 1) {
    throw new CliError('give exactly one target: --device (repeatable), --group or --filter');
  }
  if (opts.device?.length) return { device_ids: opts.device };
  if (opts.group) return { group: opts.group };
  let filter: unknown;
  try {
    filter = JSON.parse(opts.filter as string);
  } catch (err) {
    throw new CliError(`--filter must be JSON: ${(err as Error).message}`);
  }
  if (filter === null || typeof filter !== 'object' || Array.isArray(filter)) {
    throw new CliError('--filter must be a JSON object, e.g. {"tags":["lab"]}');
  }
  return { filter };
}

/** The `POST /firmware/deploy` body of `rollout create`. */
export function buildDeployBody(opts: CreateOptions): Record<string, unknown> {
  const config: Record<string, unknown> = {
    stages: opts.stages,
    soak_duration_minutes: opts.soak,
    max_error_rate: opts.maxErrorRate,
    max_offline_rate: opts.maxOfflineRate,
    min_devices_per_stage: opts.minDevicesPerStage,
    device_timeout_minutes: opts.deviceTimeout,
    min_sample: opts.minSample,
    rate_per_s: opts.rate,
  };
  const rollout = Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined));
  return {
    version: opts.version,
    device_type: opts.deviceType,
    target: buildTarget(opts),
    ...(Object.keys(rollout).length > 0 && { rollout_config: rollout }),
    ...(opts.allowDowngrade && { allow_downgrade: true }),
  };
}

const path = (id: string, suffix = '') => `/api/v1/deployments/${encodeURIComponent(id)}${suffix}`;

async function getDeployment(client: ApiClient, id: string): Promise<DeploymentView> {
  return client.request<DeploymentView>({ method: 'GET', path: path(id) });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Options of {@link watchDeployment}. */
export interface WatchOptions {
  /** Seconds between polls. */
  interval: number;
  /** Print one JSON line per change instead of the picture. */
  json: boolean;
  /** Redraw in place (a terminal) instead of printing each changed picture below the last. */
  redraw: boolean;
  /** Stop waiting after this many seconds (default: until a final status). */
  timeoutS?: number;
}

/**
 * Polls the deployment and draws it until it reaches a final status. Resolves with it; the
 * command turns anything but `completed` into exit code 1.
 */
export async function watchDeployment(
  client: ApiClient,
  io: CliIo,
  id: string,
  opts: WatchOptions,
): Promise<DeploymentView> {
  const started = Date.now();
  let last = '';
  for (;;) {
    const d = await getDeployment(client, id);
    const frame = opts.json ? `${JSON.stringify(d)}\n` : renderRollout(d);
    if (frame !== last) {
      io.stdout(opts.redraw && !opts.json ? `\x1b[H\x1b[2J${frame}` : frame);
      last = frame;
    }
    if (FINAL_STATUSES.has(d.status)) return d;
    if (opts.timeoutS !== undefined && Date.now() - started >= opts.timeoutS * 1000) {
      throw new CliError(`deployment ${id} is still ${d.status} after ${opts.timeoutS} s`);
    }
    await sleep(opts.interval * 1000);
  }
}

function finish(d: DeploymentView): void {
  if (d.status === 'completed') return;
  const why = d.reason ? ` (${d.reason})` : '';
  throw new CliError(`deployment ${d.deployment_id} ended ${d.status}${why}`);
}

function watchOptions(common: CommonOptions, interval: number, timeoutS?: number): WatchOptions {
  return {
    interval,
    json: common.json,
    redraw: process.stdout.isTTY === true,
    ...(timeoutS !== undefined && { timeoutS }),
  };
}

const listColumns = [
  { header: 'DEPLOYMENT ID', value: (d: DeploymentView) => d.deployment_id },
  { header: 'TYPE', value: (d: DeploymentView) => d.device_type },
  { header: 'VERSION', value: (d: DeploymentView) => d.version },
  { header: 'STATUS', value: (d: DeploymentView) => d.status },
  { header: 'REASON', value: (d: DeploymentView) => orDash(d.reason) },
  {
    header: 'STAGE',
    value: (d: DeploymentView) =>
      d.current_stage === null ? '-' : `${d.current_stage + 1}/${d.rollout_config.stages.length}`,
  },
  { header: 'DEVICES', value: (d: DeploymentView) => `${d.succeeded}/${d.total_devices}` },
  { header: 'CREATED', value: (d: DeploymentView) => formatTime(d.created_at) },
];

/** `drover rollout create|list|get|devices|pause|resume|abort|rollback|watch`. */
interface RehearseOptions extends CreateOptions {
  failRate?: number;
  offlineRate?: number;
  neverReturnsRate?: number;
  modelFaults?: string;
  seed?: number;
}

/** The `POST /firmware/rehearse` body of `rollout rehearse`: the deploy body, faults and seed. */
export function buildRehearseBody(opts: RehearseOptions): Record<string, unknown> {
  const faults: Record<string, unknown> = {
    failure_rate: opts.failRate,
    offline_rate: opts.offlineRate,
    never_returns_rate: opts.neverReturnsRate,
  };
  if (opts.modelFaults !== undefined) {
    let byModel: unknown;
    try {
      byModel = JSON.parse(opts.modelFaults);
    } catch (err) {
      throw new CliError(`--model-faults must be JSON: ${(err as Error).message}`);
    }
    if (byModel === null || typeof byModel !== 'object' || Array.isArray(byModel)) {
      throw new CliError('--model-faults must be a JSON object, e.g. {"rev-b":{"failure_rate":1}}');
    }
    faults.by_model = byModel;
  }
  const given = Object.fromEntries(Object.entries(faults).filter(([, v]) => v !== undefined));
  return {
    ...buildDeployBody(opts),
    ...(Object.keys(given).length > 0 && { faults: given }),
    ...(opts.seed !== undefined && { seed: opts.seed }),
  };
}

function parseSeed(input: string): number {
  const n = Number(input);
  if (!Number.isSafeInteger(n) || n < 0 || n > 4_294_967_295) {
    throw new InvalidArgumentError('expected an integer from 0 to 4294967295');
  }
  return n;
}

/** The answer of `POST /firmware/rehearse` as the CLI shows it. */
export interface RehearsalView {
  version: string;
  device_type: string;
  seed: number;
  outcome: string;
  reason: string | null;
  stage: number;
  total_devices: number;
  hardware_mix: Record<string, number>;
  error_rate: number;
  offline_rate: number;
  rollout_config: { max_error_rate: number; max_offline_rate: number; min_sample: number };
  blast_radius: {
    touched: number;
    fraction: number;
    succeeded: number;
    failed: number;
    offline: number;
    updating: number;
    by_hardware_model: Record<string, number>;
  };
  stages: {
    index: number;
    percent: number;
    devices: number;
    succeeded: number;
    failed: number;
    offline: number;
    updating: number;
  }[];
  duration_minutes: number;
}

const pct = (r: number) => `${(r * 100).toFixed(1)} %`;
const mix = (m: Record<string, number>) =>
  Object.entries(m)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ') || '-';

/** Outcome, blast radius and stages of a rehearsal, as text. */
export function renderRehearsal(r: RehearsalView): string {
  const cfg = r.rollout_config;
  const b = r.blast_radius;
  const outcome =
    r.outcome === 'rolled_back'
      ? `ROLLED BACK at stage ${r.stage + 1} of ${r.stages.length} (${r.reason})`
      : `COMPLETED (all ${r.stages.length} stages)`;
  const lines = [
    `rehearsal of ${r.device_type} ${r.version} (dry run, seed ${r.seed}): nothing was sent`,
    `outcome:      ${outcome} after ${r.duration_minutes.toFixed(1)} simulated minutes`,
    `target:       ${r.total_devices} devices (${mix(r.hardware_mix)})`,
    `blast radius: ${b.touched} devices touched (${pct(b.fraction)}): ${b.succeeded} succeeded, ` +
      `${b.failed} failed, ${b.offline} offline, ${b.updating} still updating`,
    `              by model: ${mix(b.by_hardware_model)}`,
    `error rate:   ${pct(r.error_rate)} (limit ${pct(cfg.max_error_rate)})`,
    `offline rate: ${pct(r.offline_rate)} (limit ${pct(cfg.max_offline_rate)}); ` +
      `judged after ${cfg.min_sample} finished devices`,
    '',
    'stage  percent  devices  succeeded  failed  offline  updating',
    ...r.stages.map((s) =>
      [
        String(s.index + 1).padEnd(5),
        `${s.percent} %`.padStart(7),
        String(s.devices).padStart(8),
        String(s.succeeded).padStart(10),
        String(s.failed).padStart(7),
        String(s.offline).padStart(8),
        String(s.updating).padStart(9),
      ].join('  '),
    ),
  ];
  return lines.join('\n') + '\n';
}

export function registerRolloutCommand(program: Command, io: CliIo, run: ActionRunner): void {
  const rollout = program
    .command('rollout')
    .description('staged firmware rollouts: create, follow, pause, abort, roll back');

  const create = rollout
    .command('create')
    .description('deploy a registered firmware version in stages (POST /firmware/deploy)')
    .requiredOption('--version <semver>', 'firmware version to deploy')
    .requiredOption('--device-type <type>', 'device type')
    .option('--device <id>', 'target device (repeat or comma-separate)', collectTags)
    .option('--group <id>', 'target group (static or dynamic)')
    .option('--filter <json>', 'target filter, e.g. {"tags":["lab"]}')
    .option('--stages <list>', 'cumulative percentages (default 1,5,10,25,100)', parseStages)
    .option(
      '--soak <minutes>',
      'soak after each stage (default 30; fractions allowed)',
      parseNumber,
    )
    .option('--max-error-rate <r>', 'roll back above this failed ÷ attempted (0.02)', parseRate)
    .option('--max-offline-rate <r>', 'roll back above this offline ÷ attempted (0.05)', parseRate)
    .option('--min-devices-per-stage <n>', 'smallest stage', parseCount)
    .option('--device-timeout <minutes>', 'a device not done by then failed', parseNumber)
    .option('--min-sample <n>', 'finished devices before the rates are judged (10)', parseCount)
    .option('--rate <n>', 'update commands per second', parseCount)
    .option('--allow-downgrade', 'allow devices running a newer version')
    .option('--idempotency-key <key>', 'retry-safe: the same key creates one deployment')
    .option('--watch', 'then watch it until it ends')
    .option('--interval <s>', 'seconds between polls with --watch', parseInterval, 1);
  run(create, async (client, common) => {
    const opts = create.opts<CreateOptions>();
    const created = await client.request<{ deployment_id: string; status: string }>({
      method: 'POST',
      path: '/api/v1/firmware/deploy',
      body: buildDeployBody(opts),
      headers: opts.idempotencyKey ? { 'idempotency-key': opts.idempotencyKey } : undefined,
    });
    if (!opts.watch) {
      io.stdout(common.json ? renderJson(created) : `${created.deployment_id}\n`);
      return;
    }
    io.stderr(`deployment ${created.deployment_id} created\n`);
    finish(
      await watchDeployment(client, io, created.deployment_id, watchOptions(common, opts.interval)),
    );
  });

  const list = rollout
    .command('list')
    .description('deployments, newest first')
    .option('--status <s>', 'only this status')
    .option('--limit <n>', '1-500', parseLimit)
    .option('--cursor <c>', 'next page');
  run(list, async (client, common) => {
    const opts = list.opts<{ status?: string; limit?: number; cursor?: string }>();
    const page = await client.request<{ items: DeploymentView[]; next_cursor: string | null }>({
      method: 'GET',
      path: '/api/v1/deployments',
      query: { status: opts.status, limit: opts.limit, cursor: opts.cursor },
    });
    if (common.json) {
      io.stdout(renderJson(page));
      return;
    }
    io.stdout(renderTable(page.items, listColumns));
    if (page.next_cursor) io.stderr(`more: --cursor ${page.next_cursor}\n`);
  });

  const get = rollout.command('get').description('one deployment').argument('<id>');
  run(get, async (client, common) => {
    const [id] = get.processedArgs as [string];
    const d = await getDeployment(client, id);
    io.stdout(common.json ? renderJson(d) : renderRollout(d));
  });

  const devices = rollout
    .command('devices')
    .description('per-device update state of a deployment')
    .argument('<id>')
    .option('--status <s>', 'only devices in this state')
    .option('--stage <n>', 'only this stage (1-based)', parseCount)
    .option('--limit <n>', '1-500', parseLimit)
    .option('--cursor <c>', 'next page');
  run(devices, async (client, common) => {
    const [id] = devices.processedArgs as [string];
    const opts = devices.opts<{
      status?: string;
      stage?: number;
      limit?: number;
      cursor?: string;
    }>();
    const page = await client.request<{
      items: Array<Record<string, string | number | boolean | null>>;
      next_cursor: string | null;
    }>({
      method: 'GET',
      path: path(id, '/devices'),
      query: {
        status: opts.status,
        stage: opts.stage === undefined ? undefined : opts.stage - 1,
        limit: opts.limit,
        cursor: opts.cursor,
      },
    });
    if (common.json) {
      io.stdout(renderJson(page));
      return;
    }
    type Row = (typeof page.items)[number];
    io.stdout(
      renderTable(page.items, [
        { header: 'DEVICE ID', value: (r: Row) => String(r.device_id) },
        {
          header: 'STAGE',
          value: (r: Row) => (typeof r.stage === 'number' ? String(r.stage + 1) : '-'),
        },
        { header: 'STATUS', value: (r: Row) => String(r.status) },
        { header: 'FROM', value: (r: Row) => orDash(r.previous_version as string | null) },
        { header: 'RUNNING', value: (r: Row) => orDash(r.running_version as string | null) },
        { header: 'ERROR', value: (r: Row) => orDash(r.error as string | null) },
      ]),
    );
    if (page.next_cursor) io.stderr(`more: --cursor ${page.next_cursor}\n`);
  });

  for (const [action, what] of [
    ['pause', 'pause: start no new device or stage'],
    ['resume', 'resume a paused deployment'],
    ['abort', 'abort: stop sending, leave devices as they are'],
    ['rollback', 'roll every updated device back to its previous version'],
  ] as const) {
    const cmd = rollout
      .command(action)
      .description(what)
      .argument('<id>')
      .option('--detail <text>', 'a note for the audit trail');
    run(cmd, async (client, common) => {
      const [id] = cmd.processedArgs as [string];
      const { detail } = cmd.opts<{ detail?: string }>();
      const d = await client.request<DeploymentView>({
        method: 'POST',
        path: path(id, `/${action}`),
        ...(detail !== undefined && { body: { detail } }),
      });
      io.stdout(common.json ? renderJson(d) : renderRollout(d));
    });
  }

  const watch = rollout
    .command('watch')
    .description('live progress per stage, error and offline rate against their limits, outcome')
    .argument('<id>')
    .option('--interval <s>', 'seconds between polls', parseInterval, 1)
    .option('--timeout <s>', 'give up after this many seconds', parseNumber);
  run(watch, async (client, common) => {
    const [id] = watch.processedArgs as [string];
    const opts = watch.opts<{ interval: number; timeout?: number }>();
    finish(
      await watchDeployment(client, io, id, watchOptions(common, opts.interval, opts.timeout)),
    );
  });

  const rehearse = rollout
    .command('rehearse')
    .description(
      'dry run: simulate the rollout over a copy of the target with injected faults ' +
        '(POST /firmware/rehearse); prints the outcome and blast radius, touches no device',
    )
    .requiredOption('--version <semver>', 'firmware version to rehearse')
    .requiredOption('--device-type <type>', 'device type')
    .option('--device <id>', 'target device (repeat or comma-separate)', collectTags)
    .option('--group <id>', 'target group (static or dynamic)')
    .option('--filter <json>', 'target filter, e.g. {"tags":["lab"]}')
    .option('--stages <list>', 'cumulative percentages (default 1,5,10,25,100)', parseStages)
    .option('--soak <minutes>', 'soak after each stage (default 30)', parseNumber)
    .option('--max-error-rate <r>', 'roll back above this failed ÷ attempted (0.02)', parseRate)
    .option('--max-offline-rate <r>', 'roll back above this offline ÷ attempted (0.05)', parseRate)
    .option('--min-devices-per-stage <n>', 'smallest stage', parseCount)
    .option('--device-timeout <minutes>', 'a device not done by then failed', parseNumber)
    .option('--min-sample <n>', 'finished devices before the rates are judged (10)', parseCount)
    .option('--rate <n>', 'update commands per second', parseCount)
    .option('--allow-downgrade', 'allow devices running a newer version')
    .option('--fail-rate <r>', 'share of devices that report failed (0)', parseRate)
    .option('--offline-rate <r>', 'share that drop offline during the update (0)', parseRate)
    .option('--never-returns-rate <r>', 'share that report success, never come back (0)', parseRate)
    .option('--model-faults <json>', 'per hardware model, e.g. {"rev-b":{"failure_rate":0.2}}')
    .option('--seed <n>', 'seed of the simulation (default 1)', parseSeed);
  run(rehearse, async (client, common) => {
    const report = await client.request<RehearsalView>({
      method: 'POST',
      path: '/api/v1/firmware/rehearse',
      body: buildRehearseBody(rehearse.opts<RehearseOptions>()),
    });
    io.stdout(common.json ? renderJson(report) : renderRehearsal(report));
  });
}
