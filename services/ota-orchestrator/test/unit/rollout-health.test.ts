import { evaluateHealth, healthRates } from '../../src/domain/rollout-health';

const limits = { max_error_rate: 0.02, max_offline_rate: 0.05, min_sample: 10 };

describe('health gate', () => {
  it('computes the rates over everything attempted', () => {
    expect(healthRates({ attempted: 0, succeeded: 0, failed: 0, offline: 0 })).toEqual({
      error_rate: 0,
      offline_rate: 0,
    });
    expect(healthRates({ attempted: 50, succeeded: 40, failed: 5, offline: 5 })).toEqual({
      error_rate: 0.1,
      offline_rate: 0.1,
    });
  });

  it('waits for the minimum sample (or all of a smaller set)', () => {
    expect(evaluateHealth({ attempted: 0, succeeded: 0, failed: 0, offline: 0 }, limits)).toEqual({
      kind: 'insufficient',
    });
    expect(evaluateHealth({ attempted: 20, succeeded: 5, failed: 4, offline: 0 }, limits)).toEqual({
      kind: 'insufficient',
    });
    // Two devices attempted: both finished is a full sample.
    expect(evaluateHealth({ attempted: 2, succeeded: 1, failed: 1, offline: 0 }, limits)).toEqual({
      kind: 'unhealthy',
      reason: 'error_rate',
    });
  });

  it('judges error rate first, then offline rate, each strictly above its limit', () => {
    expect(
      evaluateHealth({ attempted: 100, succeeded: 90, failed: 3, offline: 7 }, limits),
    ).toEqual({ kind: 'unhealthy', reason: 'error_rate' });
    expect(
      evaluateHealth({ attempted: 100, succeeded: 92, failed: 2, offline: 6 }, limits),
    ).toEqual({ kind: 'unhealthy', reason: 'offline_rate' });
    expect(
      evaluateHealth({ attempted: 100, succeeded: 93, failed: 2, offline: 5 }, limits),
    ).toEqual({ kind: 'healthy' });
  });
});
