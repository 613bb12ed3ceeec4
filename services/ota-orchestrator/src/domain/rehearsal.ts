// Rollout rehearsal: plays a rollout configuration against virtual devices (the real target's
// size and hardware mix) with seeded faults, through the engine's own plan, health gate, device
// and state-machine functions, in virtual time. Touches nothing; same inputs, same outcome. Pure.
import { type DeploymentStatus, type RolloutConfig } from '@drover/contracts';
import { ValidationError } from '@drover/service-kit';
import { applyDeviceReport, type DeviceProgress, type DeviceReport } from './rollout-device';
import { evaluateHealth, healthRates, type HealthCounts } from './rollout-health';
import { cumulativeStageSizes, orderKey } from './rollout-plan';
import { decideStep, nextStatus } from './rollout-state';

/** Fault rates (probabilities per device, drawn independently from the seed). */
export interface FaultRates {
  /** The device reports `failed`. */
  failure_rate: number;
  /** The device goes offline during the update and stays away past its deadline. */
  offline_rate: number;
  /** The device reports `succeeded`, reboots and never comes back (a boot loop). */
  never_returns_rate: number;
}

/** Fault rates, optionally overridden per hardware model. */
export interface RehearsalFaults extends FaultRates {
  /** Per hardware model, fields that replace the global rates. */
  by_model?: Record<string, Partial<FaultRates>>;
}

/** What happens to one virtual device. */
export type DeviceFate = 'ok' | 'fail' | 'offline' | 'never_returns';

/** Virtual device timings (minutes). */
export interface RehearsalTiming {
  /** Mean download + install time; each device takes 0.5–1.5 × this. */
  install_minutes: number;
  /** Reboot until the device is back online. */
  reboot_minutes: number;
}

/** Default timings of a virtual device. */
export const REHEARSAL_TIMING: RehearsalTiming = { install_minutes: 2, reboot_minutes: 0.5 };

/** A rehearsal's input. */
export interface RehearsalInput {
  /** Hardware model of each virtual device (a copy of the real target's mix). */
  hardwareModels: readonly (string | null)[];
  /** The resolved rollout configuration (resolveRolloutConfig). */
  config: RolloutConfig;
  /** Injected faults. */
  faults: RehearsalFaults;
  /** PRNG seed (integer). */
  seed: number;
  /** Commands per second when the configuration sets none (the engine's default). */
  defaultRatePerS: number;
  /** Device timings. */
  timing?: RehearsalTiming;
}

/** One stage as the rehearsal saw it. */
export interface RehearsalStage {
  /** Stage index. */
  index: number;
  /** Cumulative percent. */
  percent: number;
  /** Devices taken in the stage (0 when the stage was never reached). */
  devices: number;
  /** Of those, succeeded / failed / offline / still updating at the outcome. */
  succeeded: number;
  failed: number;
  offline: number;
  updating: number;
  /** Virtual minutes from the start when the stage started (null: never reached). */
  started_at_minute: number | null;
  /** Virtual minutes when the stage was judged healthy (null: not judged). */
  completed_at_minute: number | null;
}

/** The devices sent the update before the outcome. */
export interface BlastRadius {
  /** Devices sent the update (attempted). */
  touched: number;
  /** touched ÷ total devices. */
  fraction: number;
  /** Of those, succeeded / failed / offline / still updating. */
  succeeded: number;
  failed: number;
  offline: number;
  updating: number;
  /** Touched devices per hardware model ("unknown" when none). */
  by_hardware_model: Record<string, number>;
}

/** A rehearsal's outcome. */
export interface RehearsalResult {
  /** `completed` or `rolled_back` (the engine's final status). */
  outcome: Extract<DeploymentStatus, 'completed' | 'rolled_back'>;
  /** Why it rolled back (null when completed). */
  reason: 'error_rate' | 'offline_rate' | null;
  /** Stage of the outcome: where the gate tripped, or the last stage. */
  stage: number;
  /** Virtual devices. */
  total_devices: number;
  /** Rates over everything attempted, at the outcome. */
  error_rate: number;
  offline_rate: number;
  /** Blast radius. */
  blast_radius: BlastRadius;
  /** Per stage. */
  stages: RehearsalStage[];
  /** Virtual minutes from start to outcome (soaks, installs and deadlines included). */
  duration_minutes: number;
  /** Faults drawn over the whole virtual fleet (most never reached when it rolls back). */
  faults_drawn: Record<Exclude<DeviceFate, 'ok'>, number>;
}

/** mulberry32: a small, fast, seedable PRNG returning [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The fault rates of a hardware model; throws when a rate is out of range or they exceed 1. */
export function ratesFor(model: string | null, faults: RehearsalFaults): FaultRates {
  const over = model === null ? undefined : faults.by_model?.[model];
  const r: FaultRates = {
    failure_rate: faults.failure_rate,
    offline_rate: faults.offline_rate,
    never_returns_rate: faults.never_returns_rate,
    ...over,
  };
  const values = [r.failure_rate, r.offline_rate, r.never_returns_rate];
  if (values.some((v) => !(v >= 0 && v <= 1)) || values[0]! + values[1]! + values[2]! > 1) {
    throw new ValidationError(
      'rehearsal_bad_faults',
      `fault rates${model === null ? '' : ` of ${model}`} must each be in [0, 1] and sum to at most 1`,
    );
  }
  return r;
}

/** Draws each device's fate (and its install-time factor) from the seed. */
export function drawFates(
  hardwareModels: readonly (string | null)[],
  faults: RehearsalFaults,
  seed: number,
): { fates: DeviceFate[]; jitter: number[] } {
  const rand = seededRandom(seed);
  const byModel = new Map<string | null, FaultRates>();
  const fates: DeviceFate[] = [];
  const jitter: number[] = [];
  for (const model of hardwareModels) {
    let r = byModel.get(model);
    if (r === undefined) {
      r = ratesFor(model, faults);
      byModel.set(model, r);
    }
    const u = rand();
    let fate: DeviceFate = 'ok';
    if (u < r.failure_rate) fate = 'fail';
    else if (u < r.failure_rate + r.offline_rate) fate = 'offline';
    else if (u < r.failure_rate + r.offline_rate + r.never_returns_rate) fate = 'never_returns';
    fates.push(fate);
    jitter.push(0.5 + rand());
  }
  return { fates, jitter };
}

const TARGET = 'rehearsal-target';
const MINUTE = 60_000;

interface ScheduledReport {
  at: number;
  seq: number;
  device: number;
  report: DeviceReport;
}

/** The reports a device sends after its update command, by fate (virtual ms). */
export function scheduleReports(
  fate: DeviceFate,
  sentAt: number,
  installMs: number,
  rebootMs: number,
  timeoutMs: number,
): { at: number; report: DeviceReport }[] {
  const installed = sentAt + installMs;
  const deadline = { at: sentAt + timeoutMs, report: { kind: 'deadline' } as DeviceReport };
  switch (fate) {
    case 'ok':
      return [
        { at: installed, report: { kind: 'update_status', state: 'succeeded' } },
        { at: installed, report: { kind: 'presence', online: false } },
        {
          at: installed + rebootMs,
          report: { kind: 'presence', online: true, firmwareVersion: TARGET },
        },
        deadline,
      ];
    case 'fail':
      return [
        {
          at: installed,
          report: { kind: 'update_status', state: 'failed', error: 'injected failure' },
        },
        deadline,
      ];
    case 'offline':
      return [
        { at: sentAt + installMs / 2, report: { kind: 'presence', online: false } },
        deadline,
      ];
    case 'never_returns':
      return [
        { at: installed, report: { kind: 'update_status', state: 'succeeded' } },
        { at: installed, report: { kind: 'presence', online: false } },
        deadline,
      ];
  }
}

function freshProgress(): DeviceProgress {
  return {
    status: 'pending',
    rollbackStatus: null,
    updateState: null,
    reportedSucceeded: false,
    online: null,
    wentOffline: false,
    runningVersion: null,
    error: null,
    rollbackResends: 0,
  };
}

function modelKey(m: string | null): string {
  return m === null ? 'unknown' : m;
}

type Tally = Record<DeviceProgress['status'], number>;

function emptyTally(): Tally {
  return { pending: 0, updating: 0, succeeded: 0, failed: 0, offline: 0, skipped: 0 };
}

/**
 * Plays the rollout. The device order is the engine's (orderKey of a rehearsal id derived from
 * the seed); each step asks decideStep with evaluateHealth's verdict, exactly as the driver does;
 * device reports go through applyDeviceReport; deadlines apply to devices still updating.
 */
export function rehearse(input: RehearsalInput): RehearsalResult {
  const { config, hardwareModels } = input;
  const timing = input.timing ?? REHEARSAL_TIMING;
  const total = hardwareModels.length;
  if (total === 0) {
    throw new ValidationError('deployment_empty_target', 'the target has no eligible device');
  }
  const { fates, jitter } = drawFates(hardwareModels, input.faults, input.seed);
  const rehearsalId = `rehearsal-${input.seed}`;
  const keys = hardwareModels.map((_, i) => orderKey(rehearsalId, `sim-${i}`));
  const order = hardwareModels.map((_, i) => i).sort((a, b) => (keys[a]! < keys[b]! ? -1 : 1));
  const ratePerS = config.rate_per_s ?? input.defaultRatePerS;
  const timeoutMs = config.device_timeout_minutes * MINUTE;
  const rebootMs = timing.reboot_minutes * MINUTE;

  const progress = hardwareModels.map(freshProgress);
  const stageOf: number[] = hardwareModels.map(() => -1);
  const stages: RehearsalStage[] = config.stages.map((percent, index) => ({
    index,
    percent,
    devices: 0,
    succeeded: 0,
    failed: 0,
    offline: 0,
    updating: 0,
    started_at_minute: null,
    completed_at_minute: null,
  }));
  // Device counts by status, per stage and over the deployment (kept as reports arrive).
  const perStage: Tally[] = config.stages.map(emptyTally);
  const all = emptyTally();
  const members: number[][] = config.stages.map(() => []);
  const soakUntil: (number | null)[] = config.stages.map(() => null);
  const sizes = cumulativeStageSizes(total, config.stages, config.min_devices_per_stage);
  let taken = 0;
  let status: DeploymentStatus = 'pending';
  let cur = -1;
  let now = 0;
  let queue: ScheduledReport[] = [];
  let head = 0;
  let seq = 0;

  const update = (i: number, next: DeviceProgress): void => {
    const before = progress[i]!.status;
    progress[i] = next;
    const t = perStage[stageOf[i]!]!;
    t[before] -= 1;
    t[next.status] += 1;
    all[before] -= 1;
    all[next.status] += 1;
  };
  const counts = (): HealthCounts => ({
    attempted: all.updating + all.succeeded + all.failed + all.offline,
    succeeded: all.succeeded,
    failed: all.failed,
    offline: all.offline,
  });

  const finish = (
    outcome: RehearsalResult['outcome'],
    reason: RehearsalResult['reason'],
  ): RehearsalResult => {
    const c = counts();
    const byModel: Record<string, number> = {};
    for (const s of stages) {
      const t = perStage[s.index]!;
      s.succeeded = t.succeeded;
      s.failed = t.failed;
      s.offline = t.offline;
      s.updating = t.updating;
      // A stage's devices are all sent the update at once (health cannot change in between).
      for (const i of members[s.index]!) {
        const k = modelKey(hardwareModels[i]!);
        byModel[k] = (byModel[k] ?? 0) + 1;
      }
    }
    const drawn = { fail: 0, offline: 0, never_returns: 0, ok: 0 };
    for (const f of fates) drawn[f] += 1;
    return {
      outcome,
      reason,
      stage: cur,
      total_devices: total,
      ...healthRates(c),
      blast_radius: {
        touched: c.attempted,
        fraction: c.attempted / total,
        succeeded: c.succeeded,
        failed: c.failed,
        offline: c.offline,
        updating: all.updating,
        by_hardware_model: byModel,
      },
      stages,
      duration_minutes: now / MINUTE,
      faults_drawn: {
        fail: drawn.fail,
        offline: drawn.offline,
        never_returns: drawn.never_returns,
      },
    };
  };

  for (;;) {
    const t = cur < 0 ? null : perStage[cur]!;
    const decision = decideStep({
      status,
      currentStage: cur,
      stageCount: stages.length,
      stage:
        t === null
          ? null
          : {
              devices: members[cur]!.length,
              completed: stages[cur]!.completed_at_minute !== null,
              toDispatch: t.pending,
              updating: t.updating,
              soakUntil: soakUntil[cur] === null ? null : new Date(soakUntil[cur]!),
            },
      health: evaluateHealth(counts(), config),
      now: new Date(now),
      soakMs: config.soak_duration_minutes * MINUTE,
    });
    switch (decision.kind) {
      case 'rollback':
        status = nextStatus(status, 'gate_failed')!;
        status = nextStatus(status, 'rollback_done')!;
        return finish('rolled_back', decision.reason);
      case 'start_stage': {
        const index = decision.index;
        const last = index === stages.length - 1;
        const need = last ? total - taken : Math.max(0, sizes[index]! - taken);
        members[index] = order.slice(taken, taken + need);
        for (const i of members[index]) stageOf[i] = index;
        perStage[index]!.pending = need;
        all.pending += need;
        taken += need;
        stages[index]!.devices = need;
        stages[index]!.started_at_minute = now / MINUTE;
        status = nextStatus(status, 'start') ?? status;
        cur = index;
        break;
      }
      case 'dispatch': {
        const fresh: ScheduledReport[] = [];
        members[cur]!.forEach((i, k) => {
          const sentAt = now + Math.floor(k / ratePerS) * 1000;
          update(i, { ...progress[i]!, status: 'updating' });
          const installMs = timing.install_minutes * MINUTE * jitter[i]!;
          for (const r of scheduleReports(fates[i]!, sentAt, installMs, rebootMs, timeoutMs)) {
            fresh.push({ ...r, seq: seq++, device: i });
          }
        });
        queue = queue
          .slice(head)
          .concat(fresh)
          .sort((a, b) => a.at - b.at || a.seq - b.seq);
        head = 0;
        break;
      }
      case 'start_soak':
        soakUntil[cur] = decision.until.getTime();
        break;
      case 'stage_done':
        stages[cur]!.completed_at_minute = now / MINUTE;
        if (decision.last) {
          status = nextStatus(status, 'complete')!;
          return finish('completed', null);
        }
        break;
      case 'wait': {
        // Two waits occur here: devices updating (each has reports queued, its deadline last)
        // and a soak (until set). Jump to the next report or the soak's end, whichever is first.
        let next = decision.until === null ? Infinity : decision.until.getTime();
        if (head < queue.length) next = Math.min(next, queue[head]!.at);
        now = Math.max(now, next);
        while (head < queue.length && queue[head]!.at <= now) {
          const { device, report } = queue[head]!;
          const p = progress[device]!;
          if (report.kind !== 'deadline' || p.status === 'updating') {
            update(device, applyDeviceReport(p, report, TARGET));
          }
          head += 1;
        }
        break;
      }
    }
  }
}
