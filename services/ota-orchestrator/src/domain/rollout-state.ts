// The deployment state machine: which action moves which status where, and what the driver
// does next for a running deployment. Pure.
import { type DeploymentStatus } from '@drover/contracts';
import { type HealthVerdict } from './rollout-health';

/** What can happen to a deployment. */
export type RolloutAction =
  | 'start'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'rollback'
  | 'gate_failed'
  | 'complete'
  | 'rollback_done';

const TRANSITIONS: Record<DeploymentStatus, Partial<Record<RolloutAction, DeploymentStatus>>> = {
  pending: {
    start: 'running',
    pause: 'paused',
    abort: 'aborted',
    rollback: 'rolling_back',
    gate_failed: 'rolling_back',
  },
  running: {
    pause: 'paused',
    abort: 'aborted',
    rollback: 'rolling_back',
    gate_failed: 'rolling_back',
    complete: 'completed',
  },
  paused: {
    resume: 'running',
    abort: 'aborted',
    rollback: 'rolling_back',
    gate_failed: 'rolling_back',
  },
  rolling_back: { rollback_done: 'rolled_back' },
  completed: { rollback: 'rolling_back' },
  rolled_back: {},
  aborted: {},
};

/** The status after `action`, or null when the action does not apply. */
export function nextStatus(
  status: DeploymentStatus,
  action: RolloutAction,
): DeploymentStatus | null {
  return TRANSITIONS[status][action] ?? null;
}

/** No further transition except a manual rollback of a completed deployment. */
export function isFinished(status: DeploymentStatus): boolean {
  return status === 'completed' || status === 'rolled_back' || status === 'aborted';
}

/** The current stage as the driver sees it. */
export interface StageView {
  /** Devices taken in the stage. */
  devices: number;
  /** The stage was judged healthy after its soak. */
  completed: boolean;
  /** Devices of the stage not yet sent the update. */
  toDispatch: number;
  /** Devices of the stage sent the update and not finished. */
  updating: number;
  /** End of the soak, once every device of the stage finished. */
  soakUntil: Date | null;
}

/** The driver's next move for a pending, running or paused deployment. */
export type StepDecision =
  | { kind: 'rollback'; reason: 'error_rate' | 'offline_rate' }
  | { kind: 'start_stage'; index: number }
  | { kind: 'dispatch' }
  | { kind: 'wait'; until: Date | null }
  | { kind: 'start_soak'; until: Date }
  | { kind: 'stage_done'; last: boolean };

/** Decides what to do now. */
export function decideStep(input: {
  status: DeploymentStatus;
  currentStage: number;
  stageCount: number;
  stage: StageView | null;
  health: HealthVerdict;
  now: Date;
  soakMs: number;
}): StepDecision {
  const { health, stage, now } = input;
  if (health.kind === 'unhealthy') return { kind: 'rollback', reason: health.reason };
  if (input.status === 'paused') return { kind: 'wait', until: null };
  if (input.currentStage < 0 || stage === null) return { kind: 'start_stage', index: 0 };
  if (stage.completed) return { kind: 'start_stage', index: input.currentStage + 1 };
  if (stage.toDispatch > 0) return { kind: 'dispatch' };
  if (stage.updating > 0) return { kind: 'wait', until: null };
  // A stage left empty (fewer devices than stages) has nothing to soak.
  if (stage.devices === 0)
    return { kind: 'stage_done', last: input.currentStage >= input.stageCount - 1 };
  if (stage.soakUntil === null) {
    return { kind: 'start_soak', until: new Date(now.getTime() + input.soakMs) };
  }
  if (now < stage.soakUntil) return { kind: 'wait', until: stage.soakUntil };
  return { kind: 'stage_done', last: input.currentStage >= input.stageCount - 1 };
}
