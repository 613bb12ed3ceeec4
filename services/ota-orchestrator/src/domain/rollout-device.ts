// One device's progress through a deployment: update_status reports, presence and its deadline
// move it between states. Succeeded only when it reported `succeeded` AND came back online on
// the new version. The update's outcome is kept when a rollback follows (the rates stay true);
// the rollback has its own status. Pure.

/** Outcome of the update for one device. */
export type DeviceUpdateStatus =
  'pending' | 'updating' | 'succeeded' | 'failed' | 'offline' | 'skipped';
/** Progress of the rollback of one device. */
export type DeviceRollbackStatus = 'rolling_back' | 'rolled_back' | 'rollback_failed';

/** What the engine keeps per device. */
export interface DeviceProgress {
  /** The update's outcome. */
  status: DeviceUpdateStatus;
  /** The rollback's progress; null while none was sent. */
  rollbackStatus: DeviceRollbackStatus | null;
  /** Last update_status state. */
  updateState: string | null;
  /** It reported `succeeded` for this deployment. */
  reportedSucceeded: boolean;
  /** Last presence (null: none seen since the deployment took it). */
  online: boolean | null;
  /** It went offline after the update was sent. */
  wentOffline: boolean;
  /** Last version it reported. */
  runningVersion: string | null;
  /** Why it failed. */
  error: string | null;
  /** Times the rollback was sent again after the first. */
  rollbackResends: number;
  /** Output only: send the rollback again now (the device finished what kept it busy). */
  resendRollback?: true;
}

/** Resends of a rollback after the first, at most (each one answers a sign of an idle device). */
export const MAX_ROLLBACK_RESENDS = 5;

/**
 * A final state of a firmware command after which the device will not act on it: it refused
 * it, answered it failed, or never got it (dead-lettered, or cancelled before it was sent).
 * `expired` and `timed_out` are not among them: a firmware command's expiry and time-out are
 * the device's deadline, which judges the device then.
 */
export type CommandOutcome = 'rejected' | 'failed' | 'dead_lettered' | 'cancelled';

/** The command outcomes that end a device's update or rollback. */
export const ENDING_COMMAND_OUTCOMES: readonly CommandOutcome[] = [
  'rejected',
  'failed',
  'dead_lettered',
  'cancelled',
];

/** Something that happened to the device. */
export type DeviceReport =
  | { kind: 'update_status'; state: string; error?: string }
  | { kind: 'presence'; online: boolean; firmwareVersion?: string }
  | { kind: 'deadline' }
  | { kind: 'command'; command: 'update' | 'rollback'; outcome: CommandOutcome; error?: string };

function commandError(r: { command: 'update' | 'rollback'; outcome: string; error?: string }) {
  const what = `firmware.${r.command} ${r.outcome.replace('_', ' ')}`;
  return r.error === undefined ? what : `${what}: ${r.error}`;
}

/** The state a device shows (the rollback's once one was sent). */
export function shownStatus(d: Pick<DeviceProgress, 'status' | 'rollbackStatus'>): string {
  return d.rollbackStatus ?? d.status;
}

const FOLLOWED: ReadonlySet<DeviceUpdateStatus> = new Set(['updating', 'offline']);

function isConfirmed(d: DeviceProgress, targetVersion: string): boolean {
  return d.reportedSucceeded && d.online === true && d.runningVersion === targetVersion;
}

// Progress order of update states. A device's reports may reach the orchestrator out of order
// (the broker spreads one device's messages over the ingress's shared-subscription
// connections): a report behind the shown state is late and does not move it back. Unknown
// states rank with the final ones.
const UPDATE_RANK: Readonly<Record<string, number>> = {
  downloading: 1,
  downloaded: 2,
  installing: 3,
  rebooting: 4,
};
const FINAL_RANK = 5;
function isBehind(state: string, shown: string | null): boolean {
  if (shown === null) return false;
  return (UPDATE_RANK[state] ?? FINAL_RANK) < (UPDATE_RANK[shown] ?? FINAL_RANK);
}

/**
 * A sign that a device being rolled back is idle and still on the deployed version: it ended an
 * operation other than the rollback (`succeeded`/`failed`: the update it was finishing when
 * the rollback came, which it rejected as busy), or it came online on the deployed version (a
 * rollback it ran would have rebooted it into the previous one). Its rollback is sent again.
 */
function idleOnTarget(r: DeviceReport, targetVersion: string): boolean {
  if (r.kind === 'update_status') return r.state === 'succeeded' || r.state === 'failed';
  return r.kind === 'presence' && r.online && r.firmwareVersion === targetVersion;
}

/** Applies one report; `targetVersion` is the version being deployed. */
export function applyDeviceReport(
  d: DeviceProgress,
  r: DeviceReport,
  targetVersion: string,
): DeviceProgress {
  const next: DeviceProgress = { ...d };
  if (r.kind === 'presence') {
    next.online = r.online;
    if (r.firmwareVersion !== undefined) next.runningVersion = r.firmwareVersion;
    if (!r.online && FOLLOWED.has(d.status)) next.wentOffline = true;
  } else if (r.kind === 'update_status' && !isBehind(r.state, d.updateState)) {
    next.updateState = r.state;
  }

  if (d.rollbackStatus !== null) {
    if (d.rollbackStatus !== 'rolling_back') return next;
    if (r.kind === 'update_status' && r.state === 'rolled_back')
      next.rollbackStatus = 'rolled_back';
    else if (r.kind === 'command') {
      // A rejected rollback is the busy device's answer: it is sent again on a sign of an idle
      // device (below). Failed, dead-lettered or cancelled, it will not run.
      if (r.command === 'rollback' && r.outcome !== 'rejected') {
        next.rollbackStatus = 'rollback_failed';
        next.error = commandError(r);
      }
    } else if (r.kind === 'deadline') {
      next.rollbackStatus = 'rollback_failed';
      next.error = 'rollback not confirmed in time';
    } else if (idleOnTarget(r, targetVersion) && d.rollbackResends < MAX_ROLLBACK_RESENDS) {
      next.resendRollback = true;
    }
    return next;
  }
  if (!FOLLOWED.has(d.status)) return next;

  if (r.kind === 'command') {
    // The device will not run this update. Not when it already said it succeeded (its
    // deadline judges it), nor once its deadline judged it offline. Cancelled, an operator
    // took it out of the rollout: skipped, outside the rates; otherwise it failed.
    if (r.command === 'update' && d.status === 'updating' && !d.reportedSucceeded) {
      next.status = r.outcome === 'cancelled' ? 'skipped' : 'failed';
      next.error = commandError(r);
    }
    return next;
  }

  if (r.kind === 'update_status') {
    if (r.state === 'succeeded') next.reportedSucceeded = true;
    if (r.state === 'failed' || r.state === 'rolled_back') {
      next.status = 'failed';
      next.error = r.error ?? `device reported ${r.state}`;
      return next;
    }
  }
  if (r.kind === 'deadline') {
    if (isConfirmed(next, targetVersion)) next.status = 'succeeded';
    else if (next.online === false) {
      next.status = 'offline';
      next.error = 'offline since its update';
    } else {
      next.status = 'failed';
      next.error = next.reportedSucceeded
        ? `reported succeeded but did not come back on ${targetVersion}`
        : 'timeout';
    }
    return next;
  }
  if (isConfirmed(next, targetVersion)) next.status = 'succeeded';
  return next;
}
