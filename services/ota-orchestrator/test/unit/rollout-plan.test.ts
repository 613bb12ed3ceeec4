import { createHash } from 'node:crypto';
import { ValidationError } from '@drover/service-kit';
import {
  type CandidateDevice,
  compareVersions,
  cumulativeStageSizes,
  ineligibility,
  orderKey,
  refusal,
  resolveRolloutConfig,
  splitEligible,
} from '../../src/domain/rollout-plan';

describe('resolveRolloutConfig', () => {
  it('applies every default', () => {
    expect(resolveRolloutConfig(undefined)).toEqual({
      stages: [1, 5, 10, 25, 100],
      soak_duration_minutes: 30,
      max_error_rate: 0.02,
      max_offline_rate: 0.05,
      min_devices_per_stage: 1,
      device_timeout_minutes: 30,
      min_sample: 10,
      rate_per_s: null,
    });
  });

  it('keeps what is given, including a rate default', () => {
    const c = resolveRolloutConfig(
      { stages: [50, 100], soak_duration_minutes: 0.5, min_sample: 3, rate_per_s: 7 },
      { ratePerS: 9 },
    );
    expect(c).toMatchObject({ stages: [50, 100], soak_duration_minutes: 0.5, min_sample: 3 });
    expect(c.rate_per_s).toBe(7);
    expect(resolveRolloutConfig({}, { ratePerS: 9 }).rate_per_s).toBe(9);
  });

  it('refuses stages that do not increase or do not end at 100', () => {
    expect(() => resolveRolloutConfig({ stages: [5, 5, 100] })).toThrow(ValidationError);
    expect(() => resolveRolloutConfig({ stages: [10, 50] })).toThrow(/end at 100/);
  });
});

describe('orderKey', () => {
  it('is deterministic per deployment and differs between deployments', () => {
    expect(orderKey('dep1', 'd1')).toBe(orderKey('dep1', 'd1'));
    expect(orderKey('dep1', 'd1')).not.toBe(orderKey('dep2', 'd1'));
    expect(orderKey('dep1', 'd1')).toMatch(/^[0-9a-f]{64}$/);
  });

  it('is SHA-256 of "<deployment id>\\n<device id>" in hex, as it always was', () => {
    // Pinned: deployments planned before keep their order after an upgrade.
    expect(orderKey('dep1', 'd1')).toBe(
      '1c630119114c53ff3ee128d5a2f6324d0ae13261a20c9387e0b4ee49abc33c48',
    );
    for (const id of ['b0', 'b49999', 'ünï-çødé', 'x'.repeat(200)]) {
      const hashed = createHash('sha256').update(`01M8BYP2HXEE3TKVGSXQQWWPGC\n${id}`);
      expect(orderKey('01M8BYP2HXEE3TKVGSXQQWWPGC', id)).toBe(hashed.digest('hex'));
    }
  });

  it('spreads devices: the first 10 % of one order are not the first ids', () => {
    const ids = Array.from({ length: 200 }, (_, i) => `d${String(i).padStart(3, '0')}`);
    const first = [...ids].sort((a, b) => orderKey('x', a).localeCompare(orderKey('x', b)));
    const overlap = first.slice(0, 20).filter((id) => ids.slice(0, 20).includes(id));
    expect(overlap.length).toBeLessThan(10);
  });
});

describe('cumulativeStageSizes', () => {
  it('follows the percentages for 200 devices', () => {
    expect(cumulativeStageSizes(200, [1, 5, 10, 25, 100], 1)).toEqual([2, 10, 20, 50, 200]);
  });

  it('takes at least min_devices_per_stage more each stage, never more than all', () => {
    expect(cumulativeStageSizes(100, [1, 5, 10, 25, 100], 10)).toEqual([10, 20, 30, 40, 100]);
    expect(cumulativeStageSizes(3, [1, 5, 10, 25, 100], 1)).toEqual([1, 2, 3, 3, 3]);
    expect(cumulativeStageSizes(0, [50, 100], 1)).toEqual([0, 0]);
  });
});

describe('compareVersions', () => {
  it('orders semantic versions', () => {
    expect(compareVersions('1.2.0', '1.10.0')).toBeLessThan(0);
    expect(compareVersions('2.0.0', '2.0.0-rc.1')).toBeGreaterThan(0);
    expect(compareVersions('1.0.0', '1.0.0')).toBe(0);
  });

  it('falls back to numeric-aware text', () => {
    expect(compareVersions('build-9', 'build-10')).toBeLessThan(0);
  });
});

describe('eligibility', () => {
  const fw = { deviceType: 'sensor', version: '2.0.0', hardwareModels: ['rev-b'] };
  const dev = (over: Partial<CandidateDevice> = {}): CandidateDevice => ({
    deviceId: 'd1',
    deviceType: 'sensor',
    status: 'active',
    hardwareModel: 'rev-b',
    firmwareVersion: '1.0.0',
    ...over,
  });

  it.each([
    [dev(), null],
    [dev({ status: 'decommissioned' }), 'decommissioned'],
    [dev({ deviceType: 'gateway' }), 'wrong_device_type'],
    [dev({ hardwareModel: 'rev-a' }), 'hardware_mismatch'],
    [dev({ hardwareModel: null }), 'hardware_mismatch'],
    [dev({ firmwareVersion: null }), null],
    [dev({ firmwareVersion: '2.0.0' }), 'same_version'],
    [dev({ firmwareVersion: '3.0.0' }), 'downgrade'],
  ])('%j → %s', (d, expected) => {
    expect(ineligibility(d, fw, false)).toBe(expected);
  });

  it('allows a downgrade when asked, and any model when the firmware names none', () => {
    expect(ineligibility(dev({ firmwareVersion: '3.0.0' }), fw, true)).toBeNull();
    expect(
      ineligibility(dev({ hardwareModel: null }), { ...fw, hardwareModels: [] }, false),
    ).toBeNull();
  });

  it('refuses named devices that are not eligible, and an empty target', () => {
    const split = splitEligible(
      [dev(), dev({ deviceId: 'd2', firmwareVersion: '3.0.0' })],
      fw,
      false,
    );
    expect(split.eligible.map((d) => d.deviceId)).toEqual(['d1']);
    expect(split.excluded).toEqual({ downgrade: ['d2'] });
    expect(refusal(split, true)).toEqual({
      code: 'deployment_downgrade',
      detail: 'device d2 runs a newer version (set allow_downgrade)',
    });
    expect(refusal(split, false)).toBeNull();

    const models = splitEligible(
      Array.from({ length: 7 }, (_, i) => dev({ deviceId: `m${i}`, hardwareModel: 'rev-z' })),
      fw,
      false,
    );
    expect(refusal(models, false)).toEqual({
      code: 'deployment_hardware_mismatch',
      detail: 'device m0, m1, m2, m3, m4, ... has a hardware model the firmware is not for',
    });
    expect(refusal(splitEligible([], fw, false), false)).toEqual({
      code: 'deployment_empty_target',
      detail: 'the target has no eligible device',
    });
    const same = splitEligible([dev({ firmwareVersion: '2.0.0' })], fw, false);
    expect(refusal(same, true)?.code).toBe('deployment_empty_target');
    expect(refusal(splitEligible([dev()], fw, false), true)).toBeNull();
  });
});
