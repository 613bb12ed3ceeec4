// The command-gateway RPC contract (api-gateway/CLI/other services <-> command-gateway over the
// NATS services API). Requests are open (a newer caller never breaks an older gateway),
// responses closed; every request carries the caller's `tenant`.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../ids';
import { CommandStatus } from '../events/command-event.schema';
import { CommandName } from '../payloads/platform.schema';

/** The RPC service name. */
export const COMMAND_GATEWAY_SERVICE = 'command-gateway';

/** Operation names of the command-gateway service. */
export const CommandGatewayOps = {
  createCommand: 'create_command',
  getCommand: 'get_command',
  listCommands: 'list_commands',
  createGroupCommands: 'create_group_commands',
  getFanout: 'get_fanout',
  createCommands: 'create_commands',
  cancelCommand: 'cancel_command',
  cancelFanout: 'cancel_fanout',
  cancelDeviceCommands: 'cancel_device_commands',
} as const;
/** One of the command-gateway operation names. */
export type CommandGatewayOp = (typeof CommandGatewayOps)[keyof typeof CommandGatewayOps];

/** Bounds of a command's timing parameters (seconds). */
export const COMMAND_LIMITS = {
  timeoutS: { min: 1, max: 86_400, default: 30 },
  expiresInS: { min: 1, max: 30 * 86_400, default: 3_600 },
  groupRatePerS: { min: 1, max: 10_000, default: 100 },
  /** Commands per `create_commands` call. */
  batch: { min: 1, max: 500 },
} as const;

const Id = (description: string) => Type.String({ pattern: ID_PATTERN.source, description });
const Timestamp = (description: string) => Type.String({ minLength: 1, description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Params = Type.Record(Type.String(), Type.Unknown(), { description: 'command parameters' });
const IdempotencyKey = Type.String({ minLength: 1, maxLength: 255, description: 'dedup key' });

const commandFields = {
  name: CommandName,
  params: Type.Optional(Params),
  timeout_s: Type.Optional(
    Type.Integer({ minimum: COMMAND_LIMITS.timeoutS.min, maximum: COMMAND_LIMITS.timeoutS.max }),
  ),
  expires_in_s: Type.Optional(
    Type.Integer({
      minimum: COMMAND_LIMITS.expiresInS.min,
      maximum: COMMAND_LIMITS.expiresInS.max,
    }),
  ),
  idempotency_key: Type.Optional(IdempotencyKey),
};

/** `create_command` request. */
export const CreateCommandRequest = Type.Object({
  tenant: Id('the caller token tenant'),
  device_id: Id('device id'),
  ...commandFields,
});
/** `create_command` request. */
export type CreateCommandRequest = Static<typeof CreateCommandRequest>;

/** A command as the gateway reports it. */
export const Command = Type.Object(
  {
    command_id: Id('command id (ULID; the MQTT msg_id)'),
    tenant: Id('tenant'),
    device_id: Id('device id'),
    name: CommandName,
    params: Params,
    status: CommandStatus,
    attempts: Type.Integer({ minimum: 0, description: 'times handed to the bus' }),
    created_at: Timestamp('accepted by the gateway'),
    sent_at: Nullable(Timestamp('first broker acknowledgement')),
    accepted_at: Nullable(Timestamp('device said accepted')),
    completed_at: Nullable(Timestamp('final state reached')),
    expires_at: Timestamp('never sent after this'),
    timeout_s: Type.Integer(),
    result: Nullable(Type.Record(Type.String(), Type.Unknown())),
    error: Nullable(Type.String()),
    rtt_ms: Nullable(Type.Integer({ description: 'sent -> final result' })),
    fanout_id: Nullable(Id('group fan-out')),
  },
  { additionalProperties: false },
);
/** A command. */
export type Command = Static<typeof Command>;

/** `create_command` response: the command and whether it was created by this call. */
export const CreateCommandResponse = Type.Object(
  { command: Command, created: Type.Boolean() },
  { additionalProperties: false },
);
/** `create_command` response. */
export type CreateCommandResponse = Static<typeof CreateCommandResponse>;

/** `get_command` request. */
export const GetCommandRequest = Type.Object({
  tenant: Id('tenant'),
  command_id: Id('command id'),
});
/** `get_command` request. */
export type GetCommandRequest = Static<typeof GetCommandRequest>;

const CancelReason = Type.String({
  minLength: 1,
  maxLength: 512,
  description: "why: kept as the command's error",
});
/** `cancel_command` request: withdraw a command never handed to the broker. */
export const CancelCommandRequest = Type.Object({
  tenant: Id('tenant'),
  command_id: Id('command id'),
  reason: Type.Optional(CancelReason),
});
/** `cancel_command` request. */
export type CancelCommandRequest = Static<typeof CancelCommandRequest>;

/** `list_commands` request (newest first). */
export const ListCommandsRequest = Type.Object({
  tenant: Id('tenant'),
  device_id: Type.Optional(Id('only this device')),
  status: Type.Optional(CommandStatus),
  fanout_id: Type.Optional(Id('only this fan-out')),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
});
/** `list_commands` request. */
export type ListCommandsRequest = Static<typeof ListCommandsRequest>;

/** A page of commands. */
export const CommandList = Type.Object(
  { items: Type.Array(Command), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of commands. */
export type CommandList = Static<typeof CommandList>;

/** `create_group_commands` request: one command per member device, rate limited. */
export const CreateGroupCommandsRequest = Type.Object({
  tenant: Id('tenant'),
  group_id: Id('group id'),
  ...commandFields,
  // Per fan-out (its own key space): a retried call returns the first fan-out, no second set.
  idempotency_key: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 255,
      description: 'dedup key: the same key returns the fan-out it first created',
    }),
  ),
  rate_per_s: Type.Optional(
    Type.Integer({
      minimum: COMMAND_LIMITS.groupRatePerS.min,
      maximum: COMMAND_LIMITS.groupRatePerS.max,
    }),
  ),
});
/** `create_group_commands` request. */
export type CreateGroupCommandsRequest = Static<typeof CreateGroupCommandsRequest>;

/** Progress of a group fan-out: how many commands are in each state. */
export const Fanout = Type.Object(
  {
    fanout_id: Id('fan-out id'),
    tenant: Id('tenant'),
    group_id: Id('group id'),
    name: CommandName,
    rate_per_s: Type.Integer(),
    total: Type.Integer({ minimum: 0 }),
    created_at: Timestamp('created'),
    counts: Type.Record(Type.String(), Type.Integer({ minimum: 0 })),
    done: Type.Boolean({ description: 'every command reached a final state' }),
  },
  { additionalProperties: false },
);
/** Fan-out progress. */
export type Fanout = Static<typeof Fanout>;

/** `get_fanout` request. */
export const GetFanoutRequest = Type.Object({ tenant: Id('tenant'), fanout_id: Id('fan-out') });
/** `get_fanout` request. */
export type GetFanoutRequest = Static<typeof GetFanoutRequest>;

/** `cancel_fanout` request: withdraw every command of a fan-out not handed over yet. */
export const CancelFanoutRequest = Type.Object({
  tenant: Id('tenant'),
  fanout_id: Id('fan-out'),
  reason: Type.Optional(CancelReason),
});
/** `cancel_fanout` request. */
export type CancelFanoutRequest = Static<typeof CancelFanoutRequest>;

/** `cancel_device_commands` request: withdraw every command of a device not handed over yet. */
export const CancelDeviceCommandsRequest = Type.Object({
  tenant: Id('tenant'),
  device_id: Id('device id'),
  reason: Type.Optional(CancelReason),
});
/** `cancel_device_commands` request. */
export type CancelDeviceCommandsRequest = Static<typeof CancelDeviceCommandsRequest>;

/** `cancel_device_commands` response. */
export const CancelDeviceCommandsResponse = Type.Object(
  {
    device_id: Id('device id'),
    cancelled: Type.Integer({ minimum: 0, description: 'commands withdrawn by this call' }),
  },
  { additionalProperties: false },
);
/** `cancel_device_commands` response. */
export type CancelDeviceCommandsResponse = Static<typeof CancelDeviceCommandsResponse>;

/** One command of a `create_commands` batch. */
export const BatchCommandItem = Type.Object({
  device_id: Id('device id'),
  ...commandFields,
  // Required in a batch: a retried batch must never create a command twice.
  idempotency_key: IdempotencyKey,
  device_type: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      description:
        'device type as the caller (an internal service that already resolved the device in ' +
        'the registry) knows it; trusted, no registry lookup; omitted: looked up',
    }),
  ),
});
/** One command of a batch. */
export type BatchCommandItem = Static<typeof BatchCommandItem>;

/** `create_commands` request: up to 500 commands of one tenant in one call. */
export const CreateCommandsRequest = Type.Object({
  tenant: Id('the caller token tenant'),
  commands: Type.Array(BatchCommandItem, {
    minItems: COMMAND_LIMITS.batch.min,
    maxItems: COMMAND_LIMITS.batch.max,
  }),
});
/** `create_commands` request. */
export type CreateCommandsRequest = Static<typeof CreateCommandsRequest>;

/** The outcome of one batch item: its command (created now or before), or why it was refused. */
export const BatchCommandResult = Type.Object(
  {
    device_id: Id('device id'),
    idempotency_key: IdempotencyKey,
    created: Type.Boolean({ description: 'created by this call' }),
    command: Nullable(Command),
    error: Nullable(
      Type.Object(
        {
          code: Type.String(),
          status: Type.Integer({ description: 'the HTTP status the error maps to' }),
          detail: Type.String(),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
/** One batch result. */
export type BatchCommandResult = Static<typeof BatchCommandResult>;

/** `create_commands` response: one result per request item, in request order. */
export const CreateCommandsResponse = Type.Object(
  { results: Type.Array(BatchCommandResult) },
  { additionalProperties: false },
);
/** `create_commands` response. */
export type CreateCommandsResponse = Static<typeof CreateCommandsResponse>;

/** Request and response schema of every operation. */
export const CommandGatewayRpc = {
  [CommandGatewayOps.createCommand]: {
    request: CreateCommandRequest,
    response: CreateCommandResponse,
  },
  [CommandGatewayOps.getCommand]: { request: GetCommandRequest, response: Command },
  [CommandGatewayOps.listCommands]: { request: ListCommandsRequest, response: CommandList },
  [CommandGatewayOps.createGroupCommands]: {
    request: CreateGroupCommandsRequest,
    response: Fanout,
  },
  [CommandGatewayOps.getFanout]: { request: GetFanoutRequest, response: Fanout },
  [CommandGatewayOps.createCommands]: {
    request: CreateCommandsRequest,
    response: CreateCommandsResponse,
  },
  [CommandGatewayOps.cancelCommand]: { request: CancelCommandRequest, response: Command },
  [CommandGatewayOps.cancelFanout]: { request: CancelFanoutRequest, response: Fanout },
  [CommandGatewayOps.cancelDeviceCommands]: {
    request: CancelDeviceCommandsRequest,
    response: CancelDeviceCommandsResponse,
  },
} as const;
