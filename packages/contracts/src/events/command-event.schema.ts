// The data every `command.*` event carries: one shape for every transition, so a consumer can
// follow a command with one parser; the event type says which transition it was.
import { type Static, Type } from '@sinclair/typebox';
import { DateTime, Id, JsonObject } from '../payloads/common.schema';
import { CommandName } from '../payloads/platform.schema';

/** The states a command is still in the works in. */
const OPEN = ['queued', 'sent', 'accepted'] as const;
/** The states a command never leaves. */
const FINAL = [
  'succeeded',
  'failed',
  'rejected',
  'timed_out',
  'expired',
  'dead_lettered',
  'cancelled',
] as const;

/** Command lifecycle states (API.md `GET /api/v1/commands/{id}`), in lifecycle order. */
export const CommandStatus = Type.Union([...OPEN, ...FINAL].map((s) => Type.Literal(s)));
/** A command lifecycle state. */
export type CommandStatus = Static<typeof CommandStatus>;

/** The states a command is still in the works in. */
export const OPEN_COMMAND_STATUSES: readonly CommandStatus[] = OPEN;
/** The states a command never leaves. */
export const FINAL_COMMAND_STATUSES: readonly CommandStatus[] = FINAL;
/** Every command state, in lifecycle order. */
export const COMMAND_STATUSES: readonly CommandStatus[] = [...OPEN, ...FINAL];

/** Data of every `drover.command.<transition>.v1` event. */
export const CommandEventData = Type.Object({
  command_id: Id,
  device_id: Id,
  name: CommandName,
  status: CommandStatus,
  attempts: Type.Integer({ minimum: 0 }),
  at: DateTime,
  fanout_id: Type.Optional(Id),
  rtt_ms: Type.Optional(Type.Integer({ minimum: 0 })),
  result: Type.Optional(JsonObject),
  error: Type.Optional(Type.String({ maxLength: 4096 })),
});
/** Data of a command event. */
export type CommandEventData = Static<typeof CommandEventData>;
