import {
  type DeploymentView,
  type StageView,
  formatDuration,
  outcomeLine,
  rateLine,
  renderRollout,
  stageBar,
  stagePhase,
} from '../../src/rollout-view';

const now = new Date('2026-11-26T10:00:00Z');

function stage(index: number, over: Partial<StageView> = {}): StageView {
  return {
    index,
    percent: [1, 5, 10, 25, 100][index] ?? 100,
    devices: 0,
    updating: 0,
    succeeded: 0,
    failed: 0,
    offline: 0,
    started_at: null,
    soak_until: null,
    completed_at: null,
    ...over,
  };
}

function deployment(over: Partial<DeploymentView> = {}): DeploymentView {
  return {
    deployment_id: 'dep-1',
    firmware_id: 'fw-1',
    version: '1.4.0',
    device_type: 'sensor',
    status: 'running',
    reason: null,
    current_stage: 1,
    stages: [
      stage(0, {
        devices: 2,
        succeeded: 2,
        started_at: '2026-11-26T09:00:00Z',
        completed_at: '2026-11-26T09:30:00Z',
      }),
      stage(1, {
        devices: 10,
        succeeded: 6,
        failed: 1,
        updating: 3,
        started_at: '2026-11-26T09:31:00Z',
      }),
      stage(2),
    ],
    rollout_config: {
      stages: [1, 5, 10, 25, 100],
      soak_duration_minutes: 30,
      max_error_rate: 0.02,
      max_offline_rate: 0.05,
      min_sample: 10,
    },
    total_devices: 200,
    attempted: 12,
    succeeded: 8,
    failed: 1,
    offline: 0,
    rolled_back: 0,
    error_rate: 1 / 12,
    offline_rate: 0,
    created_at: '2026-11-26T09:00:00Z',
    finished_at: null,
    ...over,
  };
}

describe('rollout watch picture', () => {
  it('draws a bar per stage: succeeded #, failed x, offline o, updating ~', () => {
    expect(
      stageBar(stage(0, { devices: 10, succeeded: 5, failed: 1, offline: 1, updating: 3 }), 10),
    ).toBe('#####xo~~~');
    // A finished stage is full even when the cells round down.
    expect(stageBar(stage(0, { devices: 3, succeeded: 3 }), 10)).toBe('##########');
    expect(stageBar(stage(0, { devices: 3, succeeded: 1 }), 10)).toBe('###.......');
    // One failure among many still shows.
    expect(stageBar(stage(0, { devices: 1000, succeeded: 999, failed: 1 }), 10)).toBe('#########x');
    expect(stageBar(stage(0), 4)).toBe('    ');
  });

  it('names what each stage is doing', () => {
    const d = deployment();
    expect(stagePhase(d, d.stages[0]!, now)).toBe('done');
    expect(stagePhase(d, d.stages[1]!, now)).toBe('updating');
    expect(stagePhase(d, d.stages[2]!, now)).toBe('waiting');
    expect(stagePhase(deployment({ current_stage: 3 }), stage(2), now)).toBe('skipped');
    const soaking = stage(1, { started_at: 'x', soak_until: '2026-11-26T10:12:05Z' });
    expect(stagePhase(d, soaking, now)).toBe('soaking 12m05s left');
    expect(
      stagePhase(d, stage(1, { started_at: 'x', soak_until: '2026-11-26T09:00:00Z' }), now),
    ).toBe('soaking 0s left');
    expect(stagePhase(deployment({ status: 'paused' }), d.stages[1]!, now)).toBe('paused');
    expect(stagePhase(deployment({ status: 'rolling_back' }), d.stages[1]!, now)).toBe('stopped');
    expect(stagePhase(deployment({ status: 'aborted' }), d.stages[1]!, now)).toBe('stopped');
  });

  it('formats durations', () => {
    expect(formatDuration(45)).toBe('45s');
    expect(formatDuration(725)).toBe('12m05s');
    expect(formatDuration(7380)).toBe('2h03m');
  });

  it('measures each rate against its limit, marking the limit mid-gauge', () => {
    expect(rateLine('error rate', 0.01, 0.02, 10)).toBe(
      'error rate     1.0% of   2.0% limit  [###..|.....]  ok',
    );
    expect(rateLine('error rate', 0.1, 0.02, 10)).toMatch(
      /10\.0% of +2\.0% limit +\[#####\|#####\] +OVER$/,
    );
    expect(rateLine('offline rate', 0, 0, 4)).toMatch(/\[\.\.\|\.\.\] +ok$/);
  });

  it('says how it ended', () => {
    expect(outcomeLine(deployment({ status: 'completed', succeeded: 200 }))).toBe(
      'outcome: completed, 200 of 200 devices on 1.4.0',
    );
    expect(
      outcomeLine(deployment({ status: 'rolled_back', reason: 'error_rate', rolled_back: 12 })),
    ).toBe('outcome: rolled back (error rate), 12 devices returned to their previous version');
    expect(outcomeLine(deployment({ status: 'rolling_back', reason: 'offline_rate' }))).toBe(
      'rolling back (offline rate): 0 of 12 devices returned so far',
    );
    expect(outcomeLine(deployment({ status: 'aborted', reason: 'aborted' }))).toMatch(
      /^outcome: aborted/,
    );
    expect(outcomeLine(deployment({ status: 'paused' }))).toMatch(/^paused/);
    expect(outcomeLine(deployment({ status: 'pending' }))).toMatch(/^pending/);
    expect(outcomeLine(deployment())).toBe('running: 12 of 200 devices attempted');
  });

  it('renders the whole picture', () => {
    const text = renderRollout(deployment(), { now, barWidth: 10 });
    const lines = text.trimEnd().split('\n');
    expect(lines[0]).toBe('deployment dep-1  sensor 1.4.0  running  stage 2/3');
    expect(lines).toContain('stage 1   1%  [##########]           2/2  done');
    expect(lines).toContain(
      'stage 2   5%  [######x~~~]          7/10  updating  (1 failed, 3 updating)',
    );
    expect(lines).toContain('stage 3  10%  [          ]           0/0  waiting');
    expect(text).toMatch(/error rate +8\.3% of +2\.0% limit .* OVER/);
    expect(lines.at(-1)).toBe('running: 12 of 200 devices attempted');
    const empty = renderRollout(deployment({ stages: [], current_stage: null, status: 'pending' }));
    expect(empty).toContain('stage -');
    expect(empty).toContain('(no stage started yet)');
  });
});
