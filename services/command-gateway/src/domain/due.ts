// What to do with a command whose timer row came due. The scanner locks the row, asks this,
// and applies the answer; presence decides between sending and parking.
import { type CommandStatus } from './command-state';

/** The timer-relevant part of a command row. */
export interface DueCommand {
  /** Current state. */
  status: CommandStatus;
  /** Times handed to the bus so far. */
  attempts: number;
  /** Whether the device answered anything. */
  answered: boolean;
  /** Never send after this (epoch ms). */
  expiresAtMs: number;
  /** Next send or resend (epoch ms), null when parked. */
  nextAttemptAtMs: number | null;
  /** Time-out deadline (epoch ms), null before the first send. */
  deadlineAtMs: number | null;
}

/** The scanner's decision. */
export type DueAction = 'expire' | 'dispatch' | 'resend' | 'time_out' | 'park' | 'none';

const reached = (at: number | null, now: number) => at !== null && at <= now;

/** Decides for one due row at `nowMs`, knowing whether the device is online. */
export function decideDue(cmd: DueCommand, nowMs: number, online: boolean): DueAction {
  if (cmd.status === 'queued' && cmd.attempts === 0) {
    if (cmd.expiresAtMs <= nowMs) return 'expire';
    if (!reached(cmd.nextAttemptAtMs, nowMs)) return 'none';
    return online ? 'dispatch' : 'park';
  }
  if (cmd.status !== 'queued' && cmd.status !== 'sent' && cmd.status !== 'accepted') return 'none';
  if (reached(cmd.deadlineAtMs, nowMs)) return 'time_out';
  // Resend only while the device said nothing at all: once it answered it has the command.
  if (cmd.answered || !reached(cmd.nextAttemptAtMs, nowMs)) return 'none';
  return online ? 'resend' : 'park';
}
