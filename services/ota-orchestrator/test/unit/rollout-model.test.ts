// Model-based test (fast-check commands) of the rollout state machine: a small in-memory rollout
// built from the domain (decideStep, nextStatus, the health gate, the device reducer) is driven
// by random operator actions, device reports and clock ticks, and checked against a simple model
// of what the operator may do and what must always hold.
import fc from 'fast-check';
import { type DeploymentStatus } from '@drover/contracts';
import { applyDeviceReport, type DeviceProgress } from '../../src/domain/rollout-device';
import { evaluateHealth, type HealthCounts, healthRates } from '../../src/domain/rollout-health';
import { cumulativeStageSizes } from '../../src/domain/rollout-plan';
import { decideStep, isFinished, nextStatus } from '../../src/domain/rollout-state';

type Outcome = 'ok' | 'fail' | 'offline';
const V = '2.0.0';
const LIMITS = { max_error_rate: 0.1, max_offline_rate: 0.1, min_sample: 3 };
const STAGES = [10, 50, 100];

class Rollout {
  status: DeploymentStatus = 'pending';
  stage = -1;
  completed = new Set<number>();
  soakUntil: number | null = null;
  now = 0;
  stageOf: (number | null)[];
  progress: DeviceProgress[];
  deadline: number[];
  sizes: number[];
  maxStage = -1;

  constructor(readonly outcomes: Outcome[]) {
    this.stageOf = outcomes.map(() => null);
    this.deadline = outcomes.map(() => Infinity);
    this.sizes = cumulativeStageSizes(outcomes.length, STAGES, 1);
    this.progress = outcomes.map(() => ({
      status: 'pending',
      rollbackStatus: null,
      updateState: null,
      reportedSucceeded: false,
      online: true,
      wentOffline: false,
      runningVersion: '1.0.0',
      error: null,
      rollbackResends: 0,
    }));
  }

  counts(): HealthCounts {
    const c = { attempted: 0, succeeded: 0, failed: 0, offline: 0 };
    for (const p of this.progress) {
      if (p.status !== 'pending' && p.status !== 'skipped') c.attempted++;
      if (p.status === 'succeeded') c.succeeded++;
      if (p.status === 'failed') c.failed++;
      if (p.status === 'offline') c.offline++;
    }
    return c;
  }

  control(action: 'pause' | 'resume' | 'abort' | 'rollback'): boolean {
    const next = nextStatus(this.status, action);
    if (next === null) return false;
    this.status = next;
    if (action === 'abort' || action === 'rollback') this.skipPending();
    return true;
  }

  skipPending() {
    this.progress.forEach((p, i) => {
      if (p.status === 'pending') this.progress[i] = { ...p, status: 'skipped' };
    });
  }

  report(i: number) {
    const p = this.progress[i]!;
    if (p.status !== 'updating') return;
    const o = this.outcomes[i]!;
    const apply = (r: Parameters<typeof applyDeviceReport>[1]) =>
      (this.progress[i] = applyDeviceReport(this.progress[i]!, r, V));
    if (o === 'fail') apply({ kind: 'update_status', state: 'failed' });
    if (o === 'offline') apply({ kind: 'presence', online: false });
    if (o === 'ok') {
      apply({ kind: 'presence', online: true, firmwareVersion: V });
      apply({ kind: 'update_status', state: 'succeeded' });
    }
  }

  tick(ms: number) {
    this.now += ms;
    this.progress.forEach((p, i) => {
      if (p.status === 'updating' && this.deadline[i]! <= this.now) {
        this.progress[i] = applyDeviceReport(p, { kind: 'deadline' }, V);
      }
    });
    if (isFinished(this.status)) return;
    if (this.status === 'rolling_back') {
      this.status = nextStatus(this.status, 'rollback_done')!;
      return;
    }
    const inStage = (s: number) => this.progress.filter((_, i) => this.stageOf[i] === s);
    const cur = inStage(this.stage);
    const d = decideStep({
      status: this.status,
      currentStage: this.stage,
      stageCount: STAGES.length,
      stage:
        this.stage < 0
          ? null
          : {
              devices: cur.length,
              completed: this.completed.has(this.stage),
              toDispatch: cur.filter((p) => p.status === 'pending').length,
              updating: cur.filter((p) => p.status === 'updating').length,
              soakUntil: this.soakUntil === null ? null : new Date(this.soakUntil),
            },
      health: evaluateHealth(this.counts(), LIMITS),
      now: new Date(this.now),
      soakMs: 1000,
    });
    if (d.kind === 'rollback') {
      this.status = nextStatus(this.status, 'gate_failed')!;
      this.skipPending();
    } else if (d.kind === 'start_stage') {
      this.status = nextStatus(this.status, 'start') ?? this.status;
      this.stage = d.index;
      this.soakUntil = null;
      let taken = this.stageOf.filter((s) => s !== null).length;
      this.stageOf.forEach((s, i) => {
        if (s === null && taken < this.sizes[d.index]!) {
          this.stageOf[i] = d.index;
          taken++;
        }
      });
    } else if (d.kind === 'dispatch') {
      this.progress.forEach((p, i) => {
        if (this.stageOf[i] === this.stage && p.status === 'pending') {
          this.progress[i] = { ...p, status: 'updating' };
          this.deadline[i] = this.now + 5000;
        }
      });
    } else if (d.kind === 'start_soak') {
      this.soakUntil = d.until.getTime();
    } else if (d.kind === 'stage_done') {
      this.completed.add(this.stage);
      if (d.last) this.status = nextStatus(this.status, 'complete')!;
    }
    this.maxStage = Math.max(this.maxStage, this.stage);
  }
}

interface Model {
  status: DeploymentStatus;
  manual: boolean;
}

type Cmd = fc.Command<Model, Rollout>;

function invariants(m: Model, r: Rollout) {
  expect(r.status).toBe(m.status);
  expect(r.stage).toBeGreaterThanOrEqual(r.maxStage);
  expect(r.stage).toBeLessThan(STAGES.length);
  const sent = r.progress.filter((p) => p.status !== 'pending' && p.status !== 'skipped').length;
  if (r.stage >= 0) expect(sent).toBeLessThanOrEqual(r.sizes[r.stage]!);
  if (r.status === 'completed') {
    const rates = healthRates(r.counts());
    expect(rates.error_rate).toBeLessThanOrEqual(LIMITS.max_error_rate);
    expect(rates.offline_rate).toBeLessThanOrEqual(LIMITS.max_offline_rate);
    expect(r.progress.every((p) => p.status !== 'pending' && p.status !== 'updating')).toBe(true);
  }
  if (r.status === 'rolling_back' || r.status === 'rolled_back') {
    const unhealthy = evaluateHealth(r.counts(), LIMITS).kind === 'unhealthy';
    expect(m.manual || unhealthy).toBe(true);
  }
}

const ALLOWED: Record<string, DeploymentStatus[]> = {
  pause: ['pending', 'running'],
  resume: ['paused'],
  abort: ['pending', 'running', 'paused'],
  rollback: ['pending', 'running', 'paused', 'completed'],
};

const control = (action: 'pause' | 'resume' | 'abort' | 'rollback'): Cmd => ({
  check: () => true,
  run(m, r) {
    const ok = r.control(action);
    expect(ok).toBe(ALLOWED[action]!.includes(m.status));
    if (ok) {
      m.status = nextStatus(m.status, action)!;
      if (action === 'rollback') m.manual = true;
    }
    invariants(m, r);
  },
  toString: () => action,
});

const tick = (ms: number): Cmd => ({
  check: () => true,
  run(m, r) {
    const before = r.status;
    const sentBefore = r.progress.filter((p) => p.status === 'updating').length;
    r.tick(ms);
    // The machine moves by itself only along its own edges.
    if (r.status !== before) {
      const auto = ['start', 'gate_failed', 'complete', 'rollback_done'] as const;
      expect(auto.some((a) => nextStatus(before, a) === r.status)).toBe(true);
    }
    if (before === 'paused' && r.status === 'paused') {
      expect(r.progress.filter((p) => p.status === 'updating').length).toBeLessThanOrEqual(
        sentBefore,
      );
    }
    m.status = r.status;
    invariants(m, r);
  },
  toString: () => `tick(${ms})`,
});

const report = (k: number): Cmd => ({
  check: () => true,
  run(m, r) {
    const updating = r.progress.flatMap((p, i) => (p.status === 'updating' ? [i] : []));
    if (updating.length > 0) r.report(updating[k % updating.length]!);
    invariants(m, r);
  },
  toString: () => `report(${k})`,
});

describe('rollout state machine (model-based)', () => {
  it('follows the model under any interleaving', () => {
    const outcome = fc.constantFrom<Outcome>('ok', 'ok', 'ok', 'ok', 'fail', 'offline');
    const commands = fc.commands(
      [
        fc.constantFrom('pause', 'resume', 'abort', 'rollback').map(control),
        fc.integer({ min: 1, max: 3000 }).map(tick),
        fc.integer({ min: 0, max: 100 }).map(report),
      ],
      { maxCommands: 120 },
    );
    fc.assert(
      fc.property(fc.array(outcome, { minLength: 1, maxLength: 40 }), commands, (outs, cmds) => {
        fc.modelRun(
          () => ({
            model: { status: 'pending' as DeploymentStatus, manual: false },
            real: new Rollout(outs),
          }),
          cmds,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('a healthy fleet with no operator reaches completed', () => {
    const r = new Rollout(Array.from({ length: 20 }, () => 'ok' as const));
    for (let i = 0; i < 200 && r.status !== 'completed'; i++) {
      r.tick(500);
      r.progress.forEach((_, k) => r.report(k));
    }
    expect(r.status).toBe('completed');
    expect(r.counts().succeeded).toBe(20);
  });
});
