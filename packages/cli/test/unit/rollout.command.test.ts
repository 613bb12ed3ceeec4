import { type ApiClient, type ApiRequest } from '../../src/api-client';
import {
  buildDeployBody,
  buildTarget,
  parseStages,
  watchDeployment,
} from '../../src/commands/rollout.command';
import { buildProgram } from '../../src/program';
import { type DeploymentView } from '../../src/rollout-view';
import { captureIo } from '../helpers/capture-io';

const base = { version: '1.4.0', deviceType: 'sensor', interval: 1 };

function view(status: string, succeeded: number): DeploymentView {
  return {
    deployment_id: 'dep-1',
    firmware_id: 'fw-1',
    version: '1.4.0',
    device_type: 'sensor',
    status,
    reason: status === 'rolled_back' ? 'error_rate' : null,
    current_stage: 0,
    stages: [
      {
        index: 0,
        percent: 100,
        devices: 4,
        updating: 4 - succeeded,
        succeeded,
        failed: 0,
        offline: 0,
        started_at: '2026-11-26T09:00:00Z',
        soak_until: null,
        completed_at: null,
      },
    ],
    rollout_config: {
      stages: [100],
      soak_duration_minutes: 0,
      max_error_rate: 0.02,
      max_offline_rate: 0.05,
      min_sample: 1,
    },
    total_devices: 4,
    attempted: 4,
    succeeded,
    failed: 0,
    offline: 0,
    rolled_back: 0,
    error_rate: 0,
    offline_rate: 0,
    created_at: '2026-11-26T09:00:00Z',
    finished_at: null,
  };
}

/** An API client that answers GETs from a script of deployment states. */
function scripted(states: DeploymentView[]): ApiClient & { requests: ApiRequest[] } {
  const requests: ApiRequest[] = [];
  let i = 0;
  return {
    baseUrl: 'http://api.invalid',
    requests,
    request<T>(req: ApiRequest): Promise<T> {
      requests.push(req);
      const state = states[Math.min(i, states.length - 1)];
      i += 1;
      return Promise.resolve(state as T);
    },
  };
}

describe('drover rollout', () => {
  it('parses --stages', () => {
    expect(parseStages('1, 5,10,25,100')).toEqual([1, 5, 10, 25, 100]);
    expect(() => parseStages('1,x')).toThrow('comma-separated percentages');
    expect(() => parseStages('0,100')).toThrow();
    expect(() => parseStages('50,101')).toThrow();
  });

  it('takes exactly one target', () => {
    expect(buildTarget({ device: ['a', 'b'] })).toEqual({ device_ids: ['a', 'b'] });
    expect(buildTarget({ group: 'g1' })).toEqual({ group: 'g1' });
    expect(buildTarget({ filter: '{"tags":["lab"]}' })).toEqual({ filter: { tags: ['lab'] } });
    expect(() => buildTarget({})).toThrow('give exactly one target');
    expect(() => buildTarget({ group: 'g', device: ['a'] })).toThrow('give exactly one target');
    expect(() => buildTarget({ filter: '{x' })).toThrow('--filter must be JSON');
    expect(() => buildTarget({ filter: '[1]' })).toThrow('--filter must be a JSON object');
  });

  it('builds the deploy body with only the rollout settings given', () => {
    expect(buildDeployBody({ ...base, group: 'g1' })).toEqual({
      version: '1.4.0',
      device_type: 'sensor',
      target: { group: 'g1' },
    });
    expect(
      buildDeployBody({
        ...base,
        device: ['d1'],
        stages: [10, 100],
        soak: 0.5,
        maxErrorRate: 0.1,
        maxOfflineRate: 0.2,
        minDevicesPerStage: 2,
        deviceTimeout: 3,
        minSample: 4,
        rate: 50,
        allowDowngrade: true,
      }),
    ).toEqual({
      version: '1.4.0',
      device_type: 'sensor',
      target: { device_ids: ['d1'] },
      rollout_config: {
        stages: [10, 100],
        soak_duration_minutes: 0.5,
        max_error_rate: 0.1,
        max_offline_rate: 0.2,
        min_devices_per_stage: 2,
        device_timeout_minutes: 3,
        min_sample: 4,
        rate_per_s: 50,
      },
      allow_downgrade: true,
    });
  });

  it('watch draws each change once and stops at a final status', async () => {
    const client = scripted([view('running', 1), view('running', 1), view('completed', 4)]);
    const io = captureIo(process.cwd());
    const end = await watchDeployment(client, io, 'dep-1', {
      interval: 0.01,
      json: false,
      redraw: false,
    });
    expect(end.status).toBe('completed');
    expect(client.requests).toHaveLength(3);
    expect(client.requests[0]).toEqual({ method: 'GET', path: '/api/v1/deployments/dep-1' });
    const frames = io.out().split('deployment dep-1').length - 1;
    expect(frames).toBe(2); // the unchanged second poll is not drawn again
    expect(io.out()).toContain('outcome: completed, 4 of 4 devices on 1.4.0');
  });

  it('watch --json prints one line per change; redraw clears the screen', async () => {
    const io = captureIo(process.cwd());
    await watchDeployment(scripted([view('running', 2), view('rolled_back', 2)]), io, 'dep-1', {
      interval: 0.01,
      json: true,
      redraw: true,
    });
    const lines = io.out().trimEnd().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as DeploymentView).status)).toEqual([
      'running',
      'rolled_back',
    ]);
    const drawn = captureIo(process.cwd());
    await watchDeployment(scripted([view('completed', 4)]), drawn, 'dep-1', {
      interval: 0.01,
      json: false,
      redraw: true,
    });
    expect(drawn.out().startsWith('\x1b[H\x1b[2J')).toBe(true);
  });

  it('watch gives up after --timeout', async () => {
    await expect(
      watchDeployment(scripted([view('running', 0)]), captureIo(process.cwd()), 'dep-1', {
        interval: 0.01,
        json: false,
        redraw: false,
        timeoutS: 0.05,
      }),
    ).rejects.toThrow('deployment dep-1 is still running after 0.05 s');
  });

  it('offers create, list, get, devices, the controls and watch', () => {
    const program = buildProgram(captureIo(process.cwd()));
    const group = program.commands.find((c) => c.name() === 'rollout');
    expect(group?.commands.map((c) => c.name())).toEqual([
      'create',
      'list',
      'get',
      'devices',
      'pause',
      'resume',
      'abort',
      'rollback',
      'watch',
      'rehearse',
    ]);
    const firmware = program.commands.find((c) => c.name() === 'firmware');
    expect(firmware?.commands.map((c) => c.name())).toEqual(['sign', 'upload', 'list', 'get']);
  });
});

describe('--version after a subcommand', () => {
  it('is the firmware version, not the CLI version', async () => {
    const program = buildProgram(captureIo(process.cwd()));
    const rollout = program.commands.find((c) => c.name() === 'rollout')!;
    const create = rollout.commands.find((c) => c.name() === 'create')!;
    create.action(() => undefined);
    await program.parseAsync(
      ['rollout', 'create', '--version', '1.4.0', '--device-type', 'sensor', '--group', 'g'],
      { from: 'user' },
    );
    expect(create.opts()).toMatchObject({ version: '1.4.0', deviceType: 'sensor', group: 'g' });
  });
});
