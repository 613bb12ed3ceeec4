// The two things every path does to a locked command row: hand it to the bus (first send or
// resend, same msg_id) and move it to a new state (row, event and metrics together).
import {
  type CloudEvent,
  type CommandEventData,
  type CommandPayload,
  commandEventDefinitions,
  commandSubject,
  createEvent,
} from '@drover/contracts';
import { type OutboxMessage } from '@drover/bus';
import { resendDelayMs } from '../domain/backoff';
import { type CommandStatus, isFinal } from '../domain/command-state';
import { type CommandRow } from '../adapters/postgres/command.table';
import {
  updateCommand,
  updateCommandVersioned,
  type VersionedRow,
} from '../adapters/postgres/command.repository';
import { outboxEvents, outboxMessages } from '../adapters/postgres/outbox';
import { type Executor } from '../adapters/postgres/schema';
import { type GatewayContext, SERVICE_NAME } from './gateway.context';

const byStatus = new Map(commandEventDefinitions.map((d) => [d.name as CommandStatus, d]));
const ms = (d: Date | string | null): number | null => (d === null ? null : new Date(d).getTime());

/** The `command.<status>` event of a row in its new state. */
export function commandEvent(row: CommandRow, at: Date): CloudEvent<CommandEventData> {
  const def = byStatus.get(row.status)!;
  const data: CommandEventData = {
    command_id: row.command_id,
    device_id: row.device_id,
    name: row.name,
    status: row.status,
    attempts: row.attempts,
    at: at.toISOString(),
    ...(row.fanout_id !== null && { fanout_id: row.fanout_id }),
    ...(row.rtt_ms !== null && { rtt_ms: row.rtt_ms }),
    ...(row.result !== null && { result: row.result as Record<string, unknown> }),
    ...(row.error !== null && { error: row.error }),
  };
  return createEvent(def, {
    tenant: row.tenant,
    source: SERVICE_NAME,
    subject: row.device_id,
    data,
    time: at,
  }) as CloudEvent<CommandEventData>;
}

/** The COMMANDS message of a command's `attempts`-th hand-over (the device sees one msg_id). */
export function commandMessage(
  ctx: GatewayContext,
  row: Pick<CommandRow, 'command_id' | 'tenant' | 'device_id' | 'name' | 'params' | 'expires_at'>,
  attempts: number,
  now: Date,
): OutboxMessage {
  const payload: CommandPayload = {
    msg_id: row.command_id,
    ts: now.toISOString(),
    schema_version: 1,
    command: { name: row.name, params: (row.params ?? {}) as Record<string, unknown> },
    expires_at: new Date(row.expires_at).toISOString(),
  };
  // The device sees the same msg_id every time; the bus needs a new dedup id per resend.
  const msgId = attempts === 1 ? row.command_id : `${row.command_id}-r${attempts}`;
  return { subject: commandSubject(ctx.naming, row.tenant, row.device_id), msgId, payload };
}

/**
 * The deadline of a command handed over at `now`: its time-out counts from the broker's ack
 * (`cmd_sent` sets sent_at + timeout_s), so until that report lands the deadline leaves it
 * `sentReportGraceMs` to arrive.
 */
export function handOverDeadline(
  ctx: Pick<GatewayContext, 'sentReportGraceMs'>,
  timeoutS: number,
  now: Date,
): Date {
  return new Date(now.getTime() + timeoutS * 1000 + ctx.sentReportGraceMs);
}

/**
 * Hands a command to the COMMANDS stream (via the outbox) and arms its timers. Returns the row
 * as written: once the transaction has committed, the caller puts it in the row cache, so the
 * command's reports skip the read and an answer that overtakes the broker ack waits for it.
 */
export async function dispatch(
  trx: Executor,
  ctx: GatewayContext,
  row: CommandRow,
  now: Date,
): Promise<VersionedRow> {
  const attempts = row.attempts + 1;
  await outboxMessages(trx, [commandMessage(ctx, row, attempts, now)]);
  const next = new Date(now.getTime() + resendDelayMs(ctx.backoff, attempts, ctx.random()));
  const first = row.attempts === 0;
  const deadline = first ? handOverDeadline(ctx, row.timeout_s, now) : row.deadline_at;
  const written = await updateCommandVersioned(trx, row.command_id, {
    attempts,
    next_attempt_at: next,
    deadline_at: deadline,
    ...(first && { dispatched_at: now }),
  });
  ctx.metrics.dispatches.inc({ kind: first ? 'send' : 'resend' });
  ctx.hint(next);
  if (deadline !== null) ctx.hint(new Date(deadline));
  return written;
}

/** A row's move to a new state, planned before it is written. */
export interface PlannedMove {
  /** The row as it will be. */
  next: CommandRow;
  /** Whether the new state is final. */
  final: boolean;
  /** The `command.<status>` event. */
  event: CloudEvent<CommandEventData>;
}

/** Plans the move of `row` to `to` with `patch` (no I/O). */
export function planMove(
  row: CommandRow,
  to: CommandStatus,
  now: Date,
  patch: Partial<Pick<CommandRow, 'result' | 'error' | 'sent_at' | 'deadline_at'>> = {},
): PlannedMove {
  const final = isFinal(to);
  const sentAt = patch.sent_at !== undefined ? patch.sent_at : row.sent_at;
  // Without a broker ack report (older ingress) the hand-over time stands in for it.
  const sentMs = ms(sentAt) ?? ms(row.dispatched_at);
  const rttMs = final && sentMs !== null && to !== 'expired' ? now.getTime() - sentMs : null;
  const next: CommandRow = {
    ...row,
    ...patch,
    status: to,
    sent_at: sentAt,
    ...(to === 'accepted' && { accepted_at: now }),
    ...(final && { completed_at: now, next_attempt_at: null, deadline_at: null, rtt_ms: rttMs }),
  };
  return { next, final, event: commandEvent(next, now) };
}

/** The columns a move writes. */
export function movePatch(next: CommandRow) {
  return {
    status: next.status,
    sent_at: next.sent_at,
    accepted_at: next.accepted_at,
    completed_at: next.completed_at,
    next_attempt_at: next.next_attempt_at,
    deadline_at: next.deadline_at,
    rtt_ms: next.rtt_ms,
    result: next.result === null ? null : JSON.stringify(next.result),
    error: next.error,
    answered: next.answered,
  };
}

/** Counts a written move (final outcomes and their round trips). */
export function countMove(ctx: GatewayContext, row: CommandRow, m: PlannedMove, now: Date): void {
  if (!m.final) return;
  const outcome = { outcome: m.next.status };
  ctx.metrics.commands.inc(outcome);
  ctx.metrics.roundTrip.observe(outcome, (now.getTime() - ms(row.created_at)!) / 1000);
  if (m.next.rtt_ms !== null) ctx.metrics.mqttRoundTrip.observe(outcome, m.next.rtt_ms / 1000);
}

/** Moves a locked row to `to` with `patch`, enqueues its event, counts a final outcome. */
export async function moveTo(
  trx: Executor,
  ctx: GatewayContext,
  row: CommandRow,
  to: CommandStatus,
  now: Date,
  patch: Partial<Pick<CommandRow, 'result' | 'error' | 'sent_at' | 'deadline_at'>> = {},
): Promise<CommandRow> {
  const m = planMove(row, to, now, patch);
  await updateCommand(trx, row.command_id, movePatch(m.next));
  await outboxEvents(trx, [m.event]);
  countMove(ctx, row, m, now);
  return m.next;
}
