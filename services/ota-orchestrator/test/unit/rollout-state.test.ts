import { type DeploymentStatus } from '@drover/contracts';
import {
  decideStep,
  isFinished,
  nextStatus,
  type RolloutAction,
  type StageView,
} from '../../src/domain/rollout-state';

describe('deployment transitions', () => {
  const table: [DeploymentStatus, RolloutAction, DeploymentStatus | null][] = [
    ['pending', 'start', 'running'],
    ['pending', 'pause', 'paused'],
    ['running', 'pause', 'paused'],
    ['running', 'resume', null],
    ['paused', 'resume', 'running'],
    ['paused', 'pause', null],
    ['running', 'gate_failed', 'rolling_back'],
    ['paused', 'gate_failed', 'rolling_back'],
    ['running', 'rollback', 'rolling_back'],
    ['running', 'complete', 'completed'],
    ['running', 'abort', 'aborted'],
    ['rolling_back', 'abort', null],
    ['rolling_back', 'rollback_done', 'rolled_back'],
    ['completed', 'rollback', 'rolling_back'],
    ['completed', 'pause', null],
    ['aborted', 'resume', null],
    ['rolled_back', 'rollback', null],
  ];
  it.each(table)('%s + %s → %s', (from, action, to) => {
    expect(nextStatus(from, action)).toBe(to);
  });

  it('knows the finished states', () => {
    expect(['completed', 'rolled_back', 'aborted'].every((s) => isFinished(s as never))).toBe(true);
    expect(isFinished('running')).toBe(false);
  });
});

describe('decideStep', () => {
  const now = new Date('2026-11-26T10:00:00Z');
  const stage = (over: Partial<StageView> = {}): StageView => ({
    devices: 2,
    completed: false,
    toDispatch: 0,
    updating: 0,
    soakUntil: null,
    ...over,
  });
  const base = {
    status: 'running' as DeploymentStatus,
    currentStage: 0,
    stageCount: 2,
    stage: stage(),
    health: { kind: 'healthy' as const },
    now,
    soakMs: 1000,
  };

  it('rolls back first when the gate fails, even when paused', () => {
    const health = { kind: 'unhealthy' as const, reason: 'offline_rate' as const };
    expect(decideStep({ ...base, status: 'paused', health })).toEqual({
      kind: 'rollback',
      reason: 'offline_rate',
    });
  });

  it('does nothing while paused', () => {
    expect(decideStep({ ...base, status: 'paused' })).toEqual({ kind: 'wait', until: null });
  });

  it('starts the first stage, then the next one after a completed stage', () => {
    expect(decideStep({ ...base, status: 'pending', currentStage: -1, stage: null })).toEqual({
      kind: 'start_stage',
      index: 0,
    });
    expect(decideStep({ ...base, stage: stage({ completed: true }) })).toEqual({
      kind: 'start_stage',
      index: 1,
    });
  });

  it('dispatches, waits for devices, soaks, completes', () => {
    expect(decideStep({ ...base, stage: stage({ toDispatch: 1 }) })).toEqual({ kind: 'dispatch' });
    expect(decideStep({ ...base, stage: stage({ updating: 1 }) })).toEqual({
      kind: 'wait',
      until: null,
    });
    expect(decideStep(base)).toEqual({
      kind: 'start_soak',
      until: new Date(now.getTime() + 1000),
    });
    const later = new Date(now.getTime() + 500);
    expect(decideStep({ ...base, stage: stage({ soakUntil: later }) })).toEqual({
      kind: 'wait',
      until: later,
    });
    expect(decideStep({ ...base, stage: stage({ soakUntil: now }) })).toEqual({
      kind: 'stage_done',
      last: false,
    });
    expect(decideStep({ ...base, currentStage: 1, stage: stage({ soakUntil: now }) })).toEqual({
      kind: 'stage_done',
      last: true,
    });
  });

  it('does not soak an empty stage', () => {
    expect(decideStep({ ...base, stage: stage({ devices: 0 }) })).toEqual({
      kind: 'stage_done',
      last: false,
    });
  });
});
