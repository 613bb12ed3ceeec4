import { createServer } from 'node:http';
import { type AddressInfo } from 'node:net';
import {
  buildRehearseBody,
  type RehearsalView,
  renderRehearsal,
} from '../../src/commands/rollout.command';
import { buildProgram } from '../../src/program';
import { captureIo } from '../helpers/capture-io';

const base = { version: '2.0.0', deviceType: 'sensor', interval: 1, group: 'g' };

const report: RehearsalView = {
  version: '2.0.0',
  device_type: 'sensor',
  seed: 7,
  outcome: 'rolled_back',
  reason: 'error_rate',
  stage: 1,
  total_devices: 1000,
  hardware_mix: { 'rev-a': 600, 'rev-b': 400 },
  error_rate: 0.1,
  offline_rate: 0,
  rollout_config: { max_error_rate: 0.02, max_offline_rate: 0.05, min_sample: 10 },
  blast_radius: {
    touched: 50,
    fraction: 0.05,
    succeeded: 45,
    failed: 5,
    offline: 0,
    updating: 0,
    by_hardware_model: { 'rev-a': 30, 'rev-b': 20 },
  },
  stages: [
    { index: 0, percent: 1, devices: 10, succeeded: 10, failed: 0, offline: 0, updating: 0 },
    { index: 1, percent: 5, devices: 40, succeeded: 35, failed: 5, offline: 0, updating: 0 },
    { index: 2, percent: 100, devices: 0, succeeded: 0, failed: 0, offline: 0, updating: 0 },
  ],
  duration_minutes: 65.25,
};

describe('drover rollout rehearse', () => {
  it('builds the body: deploy fields, faults given, seed', () => {
    expect(buildRehearseBody({ ...base, failRate: 0.1, offlineRate: 0, seed: 3 })).toEqual({
      version: '2.0.0',
      device_type: 'sensor',
      target: { group: 'g' },
      faults: { failure_rate: 0.1, offline_rate: 0 },
      seed: 3,
    });
    expect(buildRehearseBody(base)).toEqual({
      version: '2.0.0',
      device_type: 'sensor',
      target: { group: 'g' },
    });
    expect(
      buildRehearseBody({ ...base, modelFaults: '{"rev-b":{"failure_rate":1}}' }).faults,
    ).toEqual({ by_model: { 'rev-b': { failure_rate: 1 } } });
    expect(() => buildRehearseBody({ ...base, modelFaults: '{' })).toThrow('must be JSON');
    expect(() => buildRehearseBody({ ...base, modelFaults: '[1]' })).toThrow('JSON object');
  });

  it('prints the outcome, the stage and the blast radius', () => {
    const text = renderRehearsal(report);
    expect(text).toContain('ROLLED BACK at stage 2 of 3 (error_rate) after 65.3 simulated minutes');
    expect(text).toContain('50 devices touched (5.0 %): 45 succeeded, 5 failed');
    expect(text).toContain('by model: rev-a 30, rev-b 20');
    expect(text).toContain('error rate:   10.0 % (limit 2.0 %)');
    expect(text).toContain('nothing was sent');
    const done = renderRehearsal({
      ...report,
      outcome: 'completed',
      reason: null,
      blast_radius: { ...report.blast_radius, by_hardware_model: {} },
    });
    expect(done).toContain('COMPLETED (all 3 stages)');
    expect(done).toContain('by model: -');
  });

  it('posts to /firmware/rehearse and prints the report', async () => {
    const seen: { url?: string; method?: string; body?: Record<string, unknown> } = {};
    const server = createServer((req, res) => {
      let raw = '';
      req.on('data', (c: Buffer) => (raw += c.toString()));
      req.on('end', () => {
        Object.assign(seen, { url: req.url, method: req.method, body: JSON.parse(raw) });
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(report));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const io = captureIo(process.cwd(), {
        DROVER_API: `http://127.0.0.1:${port}`,
        DROVER_TOKEN: 't',
      });
      await buildProgram(io).parseAsync(
        [
          'rollout',
          'rehearse',
          '--version',
          '2.0.0',
          '--device-type',
          'sensor',
          '--group',
          'g',
          '--fail-rate',
          '0.1',
          '--offline-rate',
          '0',
          '--seed',
          '7',
        ],
        { from: 'user' },
      );
      expect(seen).toMatchObject({
        method: 'POST',
        url: '/api/v1/firmware/rehearse',
        body: { target: { group: 'g' }, faults: { failure_rate: 0.1, offline_rate: 0 }, seed: 7 },
      });
      expect(io.out()).toContain('ROLLED BACK at stage 2');
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a bad seed', async () => {
    const program = buildProgram(captureIo(process.cwd()));
    program.exitOverride();
    for (const c of program.commands) c.exitOverride();
    const rehearse = program.commands
      .find((c) => c.name() === 'rollout')!
      .commands.find((c) => c.name() === 'rehearse')!;
    rehearse.exitOverride();
    rehearse.configureOutput({ writeErr: () => undefined });
    await expect(
      program.parseAsync(
        ['rollout', 'rehearse', '--version', '2', '--device-type', 's', '--seed', '-1'],
        { from: 'user' },
      ),
    ).rejects.toThrow('expected an integer from 0 to 4294967295');
  });
});
