// How a simulated device answers commands and desired state: pure decisions, executed by the
// MQTT side (virtual-device.ts).
import { payloadCheckers } from '@drover/contracts';
import type { CommandAnswer } from './messages';

/** A command as received on `<root>/cmd`. */
export interface ReceivedCommand {
  /** Command id. */
  id: string;
  /** Command name. */
  name: string;
  /** Parameters. */
  params: Record<string, unknown>;
  /** Expiry, epoch ms. */
  expiresAtMs: number;
}

/** Parses a command payload (JSON); `null` when it is not a valid command. */
export function parseCommand(payload: Buffer): ReceivedCommand | null {
  const body = parseJson(payload);
  if (!payloadCheckers.CommandPayload.check(body)) return null;
  return {
    id: body.msg_id,
    name: body.command.name,
    params: body.command.params,
    expiresAtMs: Date.parse(body.expires_at),
  };
}

/** Parses a desired-state payload: its `state` object, or `null`. */
export function parseDesiredState(payload: Buffer): Record<string, unknown> | null {
  const body = parseJson(payload);
  const state = (body as { state?: unknown } | null)?.state;
  return isObject(state) ? state : null;
}

/** What to do about a new command. */
export interface CommandPlan {
  /** The answers to send, in order. */
  answers: CommandAnswer[];
  /** Disconnect and reconnect after answering. */
  reboot: boolean;
}

/** Plans the answers to a new command; `fail` comes from the fault profile. */
export function planCommand(cmd: ReceivedCommand, fail: boolean, nowMs: number): CommandPlan {
  const answer = (status: CommandAnswer['status'], extra: CommandAnswer['extra'] = {}) => ({
    cmdId: cmd.id,
    status,
    extra,
  });
  if (cmd.expiresAtMs <= nowMs) {
    return { answers: [answer('rejected', { error: 'expired' })], reboot: false };
  }
  if (fail) {
    return {
      answers: [answer('accepted'), answer('failed', { error: 'simulated failure' })],
      reboot: false,
    };
  }
  const reboot = cmd.name === 'reboot';
  const result = reboot ? { rebooting: true } : { echo: { name: cmd.name, params: cmd.params } };
  return { answers: [answer('accepted'), answer('succeeded', { result })], reboot };
}

/** Remembers the final answer of the last `max` commands, so a resend is answered, not rerun. */
export class CommandMemory {
  private readonly answers = new Map<string, CommandAnswer>();

  constructor(private readonly max = 256) {}

  /** The earlier final answer to `cmdId`, if any. */
  get(cmdId: string): CommandAnswer | undefined {
    return this.answers.get(cmdId);
  }

  /** Records a final answer, forgetting the oldest beyond `max`. */
  remember(answer: CommandAnswer): void {
    this.answers.set(answer.cmdId, answer);
    if (this.answers.size > this.max) {
      const oldest = this.answers.keys().next().value as string;
      this.answers.delete(oldest);
    }
  }
}

function parseJson(payload: Buffer): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch {
    // JSON.parse throws only SyntaxError here; a device ignores what it cannot read.
    return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
