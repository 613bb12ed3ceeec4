import fc from 'fast-check';
import {
  drawFates,
  ratesFor,
  rehearse,
  REHEARSAL_TIMING,
  type RehearsalInput,
  scheduleReports,
  seededRandom,
} from '../../src/domain/rehearsal';
import { cumulativeStageSizes, resolveRolloutConfig } from '../../src/domain/rollout-plan';

const NO_FAULTS = { failure_rate: 0, offline_rate: 0, never_returns_rate: 0 };

function input(n: number, over: Partial<RehearsalInput> = {}): RehearsalInput {
  return {
    hardwareModels: Array.from({ length: n }, (_, i) => (i % 2 === 0 ? 'rev-a' : 'rev-b')),
    config: resolveRolloutConfig({ stages: [10, 50, 100], soak_duration_minutes: 5 }),
    faults: NO_FAULTS,
    seed: 1,
    defaultRatePerS: 50,
    ...over,
  };
}

describe('rehearsal PRNG and faults', () => {
  it('is deterministic from its seed and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const xs = Array.from({ length: 1000 }, () => a());
    expect(xs).toEqual(Array.from({ length: 1000 }, () => b()));
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(seededRandom(43)()).not.toEqual(xs[0]);
  });

  it('applies per-model overrides and refuses bad rates', () => {
    const faults = {
      ...NO_FAULTS,
      failure_rate: 0.1,
      by_model: { 'rev-b': { offline_rate: 0.5 } },
    };
    expect(ratesFor('rev-b', faults)).toEqual({
      failure_rate: 0.1,
      offline_rate: 0.5,
      never_returns_rate: 0,
    });
    expect(ratesFor('rev-a', faults).offline_rate).toBe(0);
    expect(ratesFor(null, faults).failure_rate).toBe(0.1);
    expect(ratesFor('x', NO_FAULTS)).toEqual(NO_FAULTS);
    expect(() => ratesFor(null, { ...NO_FAULTS, failure_rate: -0.1 })).toThrow(
      /must each be in \[0, 1\]/,
    );
    expect(() =>
      ratesFor('rev-a', { ...NO_FAULTS, by_model: { 'rev-a': { offline_rate: 2 } } }),
    ).toThrow(/of rev-a/);
    expect(() => ratesFor(null, { ...NO_FAULTS, failure_rate: 0.6, offline_rate: 0.6 })).toThrow(
      expect.objectContaining({ code: 'rehearsal_bad_faults' }),
    );
  });

  it('draws each fate kind at about its rate, identically for one seed', () => {
    const models = Array.from({ length: 20_000 }, () => 'm');
    const faults = { failure_rate: 0.1, offline_rate: 0.2, never_returns_rate: 0.3 };
    const { fates, jitter } = drawFates(models, faults, 7);
    const share = (f: string) => fates.filter((x) => x === f).length / fates.length;
    expect(share('fail')).toBeCloseTo(0.1, 1);
    expect(share('offline')).toBeCloseTo(0.2, 1);
    expect(share('never_returns')).toBeCloseTo(0.3, 1);
    expect(share('ok')).toBeCloseTo(0.4, 1);
    expect(jitter.every((j) => j >= 0.5 && j < 1.5)).toBe(true);
    expect(drawFates(models, faults, 7).fates).toEqual(fates);
  });

  it('schedules each fate’s reports with the deadline last', () => {
    for (const fate of ['ok', 'fail', 'offline', 'never_returns'] as const) {
      const r = scheduleReports(fate, 1000, 60_000, 30_000, 600_000);
      expect(r[r.length - 1]).toEqual({ at: 601_000, report: { kind: 'deadline' } });
      expect(r.every((x) => x.at >= 1000)).toBe(true);
    }
  });
});

describe('rehearse', () => {
  it('completes a fault-free rollout through every stage, soaks included', () => {
    const r = rehearse(input(200));
    expect(r.outcome).toBe('completed');
    expect(r.reason).toBeNull();
    expect(r.stage).toBe(2);
    expect(r.stages.map((s) => s.devices)).toEqual([20, 80, 100]);
    expect(r.stages.every((s) => s.succeeded === s.devices && s.completed_at_minute !== null)).toBe(
      true,
    );
    expect(r.blast_radius).toMatchObject({ touched: 200, fraction: 1, succeeded: 200, failed: 0 });
    expect(r.blast_radius.by_hardware_model).toEqual({ 'rev-a': 100, 'rev-b': 100 });
    // three soaks of 5 minutes plus installs (≤ 1.5 × 2 min + 0.5 min reboot each stage)
    expect(r.duration_minutes).toBeGreaterThanOrEqual(15);
    expect(r.duration_minutes).toBeLessThan(15 + 3 * 4);
    expect(r.faults_drawn).toEqual({ fail: 0, offline: 0, never_returns: 0 });
    // the default timing applies when none is given
    expect(rehearse(input(200, { timing: REHEARSAL_TIMING }))).toEqual(r);
  });

  it('is deterministic: the same seed gives the same result', () => {
    const faults = { failure_rate: 0.03, offline_rate: 0.01, never_returns_rate: 0.01 };
    expect(rehearse(input(500, { faults, seed: 9 }))).toEqual(
      rehearse(input(500, { faults, seed: 9 })),
    );
  });

  it('rolls back on the error rate in the first stage, touching only that stage', () => {
    const r = rehearse(input(1000, { faults: { ...NO_FAULTS, failure_rate: 0.5 } }));
    expect(r.outcome).toBe('rolled_back');
    expect(r.reason).toBe('error_rate');
    expect(r.stage).toBe(0);
    expect(r.blast_radius.touched).toBe(100);
    expect(r.blast_radius.failed).toBeGreaterThan(2);
    expect(r.stages[1]!.devices).toBe(0);
    expect(r.stages[0]!.completed_at_minute).toBeNull();
    expect(r.error_rate).toBeGreaterThan(0.02);
  });

  it('counts offline and never-returning devices on the offline rate (at their deadline)', () => {
    for (const faults of [
      { ...NO_FAULTS, offline_rate: 1 },
      { ...NO_FAULTS, never_returns_rate: 1 },
    ]) {
      const r = rehearse(
        input(100, {
          faults,
          config: resolveRolloutConfig({ stages: [100], device_timeout_minutes: 20 }),
        }),
      );
      expect(r).toMatchObject({ outcome: 'rolled_back', reason: 'offline_rate', stage: 0 });
      // judged once min_sample (10) devices reached their 20-minute deadline
      expect(r.duration_minutes).toBeGreaterThanOrEqual(20);
      expect(r.blast_radius.offline).toBeGreaterThanOrEqual(10);
      expect(r.blast_radius.updating).toBe(100 - r.blast_radius.offline);
    }
  });

  it('applies per-model faults: only the bad model trips the gate', () => {
    const faults = { ...NO_FAULTS, by_model: { 'rev-b': { failure_rate: 1 } } };
    const r = rehearse(input(400, { faults }));
    expect(r.outcome).toBe('rolled_back');
    expect(r.reason).toBe('error_rate');
    expect(r.blast_radius.failed).toBeGreaterThan(0);
    expect(r.blast_radius.failed).toBeLessThanOrEqual(r.blast_radius.by_hardware_model['rev-b']!);
    expect(r.blast_radius.succeeded).toBeLessThanOrEqual(
      r.blast_radius.by_hardware_model['rev-a']!,
    );
  });

  it('paces dispatch by rate_per_s, takes empty stages, soaks past stale deadlines', () => {
    // 3 devices, 5 stages with at least 1 each: the last two stages are empty.
    const r = rehearse({
      hardwareModels: [null, null, null],
      config: resolveRolloutConfig({
        stages: [1, 2, 3, 50, 100],
        soak_duration_minutes: 60,
        device_timeout_minutes: 10,
        rate_per_s: 1,
      }),
      faults: NO_FAULTS,
      seed: 3,
      defaultRatePerS: 1000,
      timing: { install_minutes: 1, reboot_minutes: 0 },
    });
    expect(r.outcome).toBe('completed');
    expect(r.stages.map((s) => s.devices)).toEqual([1, 1, 1, 0, 0]);
    expect(r.blast_radius.by_hardware_model).toEqual({ unknown: 3 });
    expect(r.duration_minutes).toBeGreaterThanOrEqual(180);
  });

  it('refuses an empty target', () => {
    expect(() => rehearse(input(0))).toThrow(
      expect.objectContaining({ code: 'deployment_empty_target' }),
    );
  });

  it('property: 0 % faults always completes and touches every device', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 300 }),
        fc.integer(),
        fc.integer({ min: 1, max: 30 }),
        (n, seed, minSample) => {
          const r = rehearse(
            input(n, {
              seed,
              config: resolveRolloutConfig({ stages: [1, 10, 100], min_sample: minSample }),
            }),
          );
          return r.outcome === 'completed' && r.blast_radius.touched === n;
        },
      ),
      { numRuns: 60 },
    );
  });

  it('property: faults above the limits roll back at the first stage whose sample is judged', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 400 }),
        fc.integer(),
        fc.integer({ min: 1, max: 50 }),
        fc.constantFrom('failure_rate', 'offline_rate', 'never_returns_rate'),
        (n, seed, minSample, kind) => {
          const config = resolveRolloutConfig({ stages: [1, 5, 25, 100], min_sample: minSample });
          const r = rehearse(input(n, { seed, config, faults: { ...NO_FAULTS, [kind]: 1 } }));
          // The gate judges min(min_sample, attempted) finished devices, so the first stage
          // with devices is judged (with 100 % faults it always trips there) ...
          const sizes = cumulativeStageSizes(n, config.stages, config.min_devices_per_stage);
          return (
            r.outcome === 'rolled_back' &&
            r.reason === (kind === 'failure_rate' ? 'error_rate' : 'offline_rate') &&
            r.stage === 0 &&
            // ... and no device beyond that stage was touched.
            r.blast_radius.touched === sizes[0] &&
            r.blast_radius.failed + r.blast_radius.offline >= Math.min(minSample, sizes[0]!)
          );
        },
      ),
      { numRuns: 60 },
    );
  });
});
