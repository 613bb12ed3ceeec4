// Firmware decisions of a simulated device: update and rollback plans, image checks, progress
// marks, the fault draw and the per-version rate parser.
import {
  NO_OTA_FAULTS,
  bootInto,
  checkImage,
  otaFault,
  parseVersionRates,
  planRollback,
  planUpdate,
  progressMark,
} from '../../src/domain/firmware';
import * as msg from '../../src/domain/messages';
import type { Random } from '../../src/domain/random';

const fixed = (v: number): Random => ({ next: () => v });
const params = {
  deployment_id: 'dep-1',
  firmware_version: '2.0.0',
  url: 'http://127.0.0.1/fw',
  sha256: 'a'.repeat(64),
  size: 10,
  signature: 'c2ln',
  signature_alg: 'ed25519',
};
const slots = { current: '1.0.0', previous: null };

describe('planUpdate', () => {
  it('starts an update to a new version with the order taken from the params', () => {
    expect(planUpdate(params, slots, false)).toEqual({
      kind: 'start',
      order: {
        deploymentId: 'dep-1',
        version: '2.0.0',
        url: 'http://127.0.0.1/fw',
        sha256: 'a'.repeat(64),
        size: 10,
        signature: 'c2ln',
        signatureAlg: 'ed25519',
      },
    });
  });

  it('reports at once when the version already runs', () => {
    expect(planUpdate(params, { current: '2.0.0', previous: '1.0.0' }, false).kind).toBe('already');
  });

  it('rejects bad params with the offending field, and any update while busy', () => {
    const bad = planUpdate({ ...params, sha256: 'xyz' }, slots, false);
    expect(bad).toEqual({ kind: 'reject', error: expect.stringMatching(/bad params: \/sha256/) });
    expect(planUpdate(params, slots, true)).toEqual({
      kind: 'reject',
      error: 'another firmware operation is in progress',
    });
  });
});

describe('planRollback', () => {
  const ab = { current: '2.0.0', previous: '1.0.0' };
  const rb = { deployment_id: 'dep-1', firmware_version: '1.0.0' };

  it('starts a rollback to the other slot', () => {
    expect(planRollback(rb, ab, false)).toEqual({
      kind: 'start',
      order: { deploymentId: 'dep-1', version: '1.0.0' },
    });
  });

  it('is done at once when the version already runs', () => {
    expect(planRollback({ ...rb, firmware_version: '2.0.0' }, ab, false).kind).toBe('already');
  });

  it('rejects bad params, a version it has no image of, and a rollback while busy', () => {
    expect(planRollback({ deployment_id: 'dep 1' }, ab, false)).toMatchObject({ kind: 'reject' });
    expect(planRollback({ ...rb, firmware_version: '0.9.0' }, ab, false)).toEqual({
      kind: 'reject',
      error: 'no image of 0.9.0 to roll back to',
    });
    expect(planRollback(rb, { current: '2.0.0', previous: null }, false)).toMatchObject({
      kind: 'reject',
    });
    expect(planRollback(rb, ab, true)).toMatchObject({ kind: 'reject' });
  });
});

describe('images', () => {
  it('boots into a version, keeping the running one as previous', () => {
    expect(bootInto(slots, '2.0.0')).toEqual({ current: '2.0.0', previous: '1.0.0' });
  });

  it('checks size first, then SHA-256', () => {
    const order = { size: 10, sha256: 'a'.repeat(64) };
    expect(checkImage(order, { size: 10, sha256: 'a'.repeat(64) })).toBeNull();
    expect(checkImage(order, { size: 9, sha256: 'b' })).toBe('size mismatch: expected 10, got 9');
    expect(checkImage(order, { size: 10, sha256: 'b' })).toBe('sha256 mismatch: got b');
  });

  it.each([
    { received: 0, total: 100, last: 0, expected: null },
    { received: 30, total: 100, last: 0, expected: 25 },
    { received: 49, total: 100, last: 25, expected: null },
    { received: 100, total: 100, last: 75, expected: 100 },
    { received: 0, total: 0, last: 0, expected: 100 },
    { received: 200, total: 100, last: 0, expected: 100 },
  ])('progress after $received of $total (last $last) is $expected', (c) => {
    expect(progressMark(c.received, c.total, c.last)).toBe(c.expected);
  });
});

describe('firmware faults', () => {
  const profile = {
    failureRate: 0.1,
    failureRateByVersion: { '3.0.0': 0.5 },
    badVersionRate: 0.3,
    vanishRate: 0.1,
    bootLoopRate: 0.1,
  };

  it.each([
    { version: '2.0.0', u: 0.05, expected: 'fail' },
    { version: '2.0.0', u: 0.15, expected: 'vanish' },
    { version: '2.0.0', u: 0.25, expected: 'boot_loop' },
    { version: '2.0.0', u: 0.35, expected: 'none' },
    { version: '3.0.0', u: 0.45, expected: 'fail' },
    { version: '3.0.0', u: 0.65, expected: 'boot_loop' },
    { version: '2.1.0-bad', u: 0.25, expected: 'fail' },
    { version: '2.1.0-bad', u: 0.35, expected: 'vanish' },
  ])('$version with draw $u meets $expected', ({ version, u, expected }) => {
    expect(otaFault(profile, version, fixed(u))).toBe(expected);
  });

  it('meets nothing without a profile', () => {
    expect(otaFault(NO_OTA_FAULTS, '2.0.0', fixed(0))).toBe('none');
  });

  it('parses per-version rates and refuses malformed ones', () => {
    expect(parseVersionRates('')).toEqual({});
    expect(parseVersionRates('2.0.0=0.1, 3.0.0-bad=1,')).toEqual({ '2.0.0': 0.1, '3.0.0-bad': 1 });
    expect(() => parseVersionRates('2.0.0')).toThrow(/not <version>=<rate/);
    expect(() => parseVersionRates('2.0.0=1.5')).toThrow(/not <version>=<rate/);
    expect(() => parseVersionRates('2.0.0=..')).toThrow(/not <version>=<rate/);
  });
});

describe('update_status message', () => {
  it('carries the deployment, the version, the state and the extras', () => {
    const env = msg.envelope('run', 0, 0);
    expect(msg.updateStatus(env, 'dep-1', '2.0.0', 'downloading', { progress: 25 })).toEqual({
      ...env,
      deployment_id: 'dep-1',
      firmware_version: '2.0.0',
      state: 'downloading',
      progress: 25,
    });
    expect(msg.updateStatus(env, 'dep-1', '2.0.0', 'failed')).not.toHaveProperty('error');
  });
});
