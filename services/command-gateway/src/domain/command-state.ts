// The command state machine: which device answer or platform observation moves a command
// where. Pure and table-driven so every edge is visible (and tested) in one place.
import {
  type CommandStatus,
  FINAL_COMMAND_STATUSES,
  OPEN_COMMAND_STATUSES,
} from '@drover/contracts';

/** Every state of a command (API.md), and the one type for them (the contract's). */
export { COMMAND_STATUSES, type CommandStatus } from '@drover/contracts';

/** States nothing leaves. */
export const FINAL_STATUSES: ReadonlySet<CommandStatus> = new Set(FINAL_COMMAND_STATUSES);

/** States the scanner and the result handler still work on. */
export const OPEN_STATUSES: readonly CommandStatus[] = OPEN_COMMAND_STATUSES;

/** What a device may answer on `cmd/res`. */
export type DeviceAnswer = 'accepted' | 'succeeded' | 'failed' | 'rejected';

/** What moves a command besides a device answer. */
export type PlatformSignal = 'broker_acked' | 'deadline' | 'expired' | 'dead_lettered';

/** Why an input left the command as it was. */
export type IgnoreReason = 'duplicate' | 'late' | 'stale';

/** Result of applying an input: a transition or a counted no-op. */
export type Transition =
  { kind: 'move'; to: CommandStatus } | { kind: 'ignore'; reason: IgnoreReason };

/** True for a state nothing leaves. */
export function isFinal(status: CommandStatus): boolean {
  return FINAL_STATUSES.has(status);
}

const move = (to: CommandStatus): Transition => ({ kind: 'move', to });
const ignore = (reason: IgnoreReason): Transition => ({ kind: 'ignore', reason });

/**
 * A device answer. Before `sent` was confirmed an answer still counts (the broker's ack report
 * may arrive after the device's answer); after a final state every answer is a duplicate (the
 * same final status again) or late (anything else).
 */
export function applyAnswer(current: CommandStatus, answer: DeviceAnswer): Transition {
  if (isFinal(current)) return ignore(current === answer ? 'duplicate' : 'late');
  if (answer === 'accepted') return current === 'accepted' ? ignore('duplicate') : move('accepted');
  return move(answer);
}

/** A platform observation (broker ack, deadline, expiry, dead letter). */
export function applySignal(current: CommandStatus, signal: PlatformSignal): Transition {
  if (isFinal(current)) return ignore('late');
  if (signal === 'broker_acked') {
    // Resends are acked again; only the first ack of a queued command moves it.
    return current === 'queued' ? move('sent') : ignore('duplicate');
  }
  if (signal === 'deadline') return move('timed_out');
  // Only a command never handed over may expire: after that it can be on the device.
  if (signal === 'expired') return current === 'queued' ? move('expired') : ignore('stale');
  return current === 'accepted' ? ignore('stale') : move('dead_lettered');
}

/** What a cancel does: withdraw the command, nothing (cancelled already), or refuse and why. */
export type CancelDecision =
  | { kind: 'move'; to: 'cancelled' }
  | { kind: 'ignore'; reason: 'duplicate' }
  | { kind: 'refuse'; reason: 'already_sent' | 'final' };

/**
 * A cancel. Only a command never handed to the broker can be withdrawn: once handed over (even
 * before the broker's ack) it may be on the device, and saying otherwise would be a lie.
 */
export function decideCancel(current: CommandStatus, attempts: number): CancelDecision {
  if (current === 'cancelled') return { kind: 'ignore', reason: 'duplicate' };
  if (isFinal(current)) return { kind: 'refuse', reason: 'final' };
  if (current === 'queued' && attempts === 0) return { kind: 'move', to: 'cancelled' };
  return { kind: 'refuse', reason: 'already_sent' };
}
