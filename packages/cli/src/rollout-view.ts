// The picture `drover rollout watch` draws (and `rollout get` prints): one progress bar per
// stage, the error and offline rate against their limits, and the outcome. Pure: a deployment
// as `GET /api/v1/deployments/{id}` returns it and the time in, text out.

/** One stage as the API reports it. */
export interface StageView {
  index: number;
  percent: number;
  devices: number;
  updating: number;
  succeeded: number;
  failed: number;
  offline: number;
  started_at: string | null;
  soak_until: string | null;
  completed_at: string | null;
}

/** A deployment as the API reports it (the fields the CLI uses). */
export interface DeploymentView {
  deployment_id: string;
  firmware_id: string;
  version: string;
  device_type: string;
  status: string;
  reason: string | null;
  current_stage: number | null;
  stages: StageView[];
  rollout_config: {
    stages: number[];
    soak_duration_minutes: number;
    max_error_rate: number;
    max_offline_rate: number;
    min_sample: number;
  };
  total_devices: number;
  attempted: number;
  succeeded: number;
  failed: number;
  offline: number;
  rolled_back: number;
  error_rate: number;
  offline_rate: number;
  created_at: string;
  finished_at: string | null;
}

/** Statuses after which nothing changes any more. */
export const FINAL_STATUSES: ReadonlySet<string> = new Set(['completed', 'rolled_back', 'aborted']);

/** Rendering options. */
export interface RenderOptions {
  /** Width of a stage's bar in characters (default 30). */
  barWidth?: number;
  /** The time soaks are measured against (default now). */
  now?: Date;
}

/** A bar of `width` cells: succeeded `#`, failed `x`, offline `o`, updating `~`, rest `.`. */
export function stageBar(stage: StageView, width: number): string {
  if (stage.devices === 0) return ' '.repeat(width);
  const cells = (n: number) => Math.floor((n / stage.devices) * width);
  const parts: [string, number][] = [
    ['#', cells(stage.succeeded)],
    ['x', stage.failed > 0 ? Math.max(1, cells(stage.failed)) : 0],
    ['o', stage.offline > 0 ? Math.max(1, cells(stage.offline)) : 0],
    ['~', cells(stage.updating)],
  ];
  let bar = '';
  for (const [ch, n] of parts) bar += ch.repeat(Math.min(n, width - bar.length));
  const finished = stage.succeeded + stage.failed + stage.offline === stage.devices;
  // Rounding down leaves a cell or two empty on a finished stage: fill with succeeded.
  return finished ? bar.padEnd(width, '#') : bar.padEnd(width, '.');
}

/** What a stage is doing, in a word or two. */
export function stagePhase(d: DeploymentView, stage: StageView, now: Date): string {
  if (stage.completed_at) return 'done';
  if (stage.started_at === null) {
    return d.current_stage !== null && stage.index < d.current_stage ? 'skipped' : 'waiting';
  }
  if (FINAL_STATUSES.has(d.status) || d.status === 'rolling_back') return 'stopped';
  if (stage.soak_until) {
    const left = Math.max(0, Math.ceil((Date.parse(stage.soak_until) - now.getTime()) / 1000));
    return `soaking ${formatDuration(left)} left`;
  }
  return d.status === 'paused' ? 'paused' : 'updating';
}

/** Seconds as `45s`, `12m05s`, `2h03m`. */
export function formatDuration(seconds: number): string {
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) {
    return `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, '0')}s`;
  }
  return `${Math.floor(seconds / 3600)}h${String(Math.floor((seconds % 3600) / 60)).padStart(2, '0')}m`;
}

/** A rate as a percentage with one decimal. */
export function percent(rate: number): string {
  return `${(rate * 100).toFixed(1)}%`;
}

/** `error rate 1.3% of 2.0% [####......|]` with OVER when above its limit. */
export function rateLine(label: string, rate: number, limit: number, width: number): string {
  // The gauge spans twice the limit, so the limit mark sits in the middle.
  const span = limit > 0 ? limit * 2 : 1;
  const half = Math.floor(width / 2);
  const filled = Math.min(width, Math.round((rate / span) * width));
  const cells = Array.from({ length: width }, (_, i) => (i < filled ? '#' : '.'));
  const gauge = `${cells.slice(0, half).join('')}|${cells.slice(half).join('')}`;
  const verdict = rate > limit ? 'OVER' : 'ok';
  return `${label.padEnd(13)}${percent(rate).padStart(6)} of ${percent(limit).padStart(6)} limit  [${gauge}]  ${verdict}`;
}

/** The last line: where the deployment stands or how it ended. */
export function outcomeLine(d: DeploymentView): string {
  const why = d.reason ? ` (${d.reason.replace('_', ' ')})` : '';
  switch (d.status) {
    case 'completed':
      return `outcome: completed, ${d.succeeded} of ${d.total_devices} devices on ${d.version}`;
    case 'rolled_back':
      return `outcome: rolled back${why}, ${d.rolled_back} devices returned to their previous version`;
    case 'rolling_back':
      return `rolling back${why}: ${d.rolled_back} of ${d.attempted} devices returned so far`;
    case 'aborted':
      return `outcome: aborted${why}, ${d.attempted} devices had been sent the update`;
    case 'paused':
      return 'paused: no new devices are started (drover rollout resume <id>)';
    case 'pending':
      return 'pending: waiting for its first stage';
    default:
      return `running: ${d.attempted} of ${d.total_devices} devices attempted`;
  }
}

/** The whole picture of one deployment. */
export function renderRollout(d: DeploymentView, opts: RenderOptions = {}): string {
  const width = opts.barWidth ?? 30;
  const now = opts.now ?? new Date();
  const stageCount = d.stages.length || d.rollout_config.stages.length;
  const at = d.current_stage === null ? '-' : `${d.current_stage + 1}/${stageCount}`;
  const lines = [
    `deployment ${d.deployment_id}  ${d.device_type} ${d.version}  ${d.status}  stage ${at}`,
    `devices ${d.total_devices}  attempted ${d.attempted}  succeeded ${d.succeeded}  ` +
      `failed ${d.failed}  offline ${d.offline}  rolled back ${d.rolled_back}`,
    '',
  ];
  for (const s of d.stages) {
    const finished = s.succeeded + s.failed + s.offline;
    const label = `stage ${s.index + 1} ${`${s.percent}%`.padStart(4)}`;
    const count = `${finished}/${s.devices}`.padStart(13);
    const detail = [
      s.failed > 0 && `${s.failed} failed`,
      s.offline > 0 && `${s.offline} offline`,
      s.updating > 0 && `${s.updating} updating`,
    ].filter(Boolean);
    lines.push(
      `${label}  [${stageBar(s, width)}] ${count}  ${stagePhase(d, s, now)}` +
        (detail.length ? `  (${detail.join(', ')})` : ''),
    );
  }
  if (d.stages.length === 0) lines.push('(no stage started yet)');
  const rateWidth = 20;
  lines.push(
    '',
    rateLine('error rate', d.error_rate, d.rollout_config.max_error_rate, rateWidth),
    rateLine('offline rate', d.offline_rate, d.rollout_config.max_offline_rate, rateWidth),
    '',
    outcomeLine(d),
  );
  return `${lines.join('\n')}\n`;
}
