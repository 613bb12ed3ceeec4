// The command gateway's ending `command.*` events (EVENTS, a durable of its own) for the
// rollout's own commands: a `firmware.update` the device refused or answered failed, or that
// never reached it (dead-lettered, cancelled), fails that device at once instead of at its
// deadline; a `firmware.rollback` that failed, was dead-lettered or cancelled ends its rollback
// as `rollback_failed`. Events are matched by command id to the device rows that sent them;
// any other command's event is acknowledged and ignored.
import { type CloudEvent, type CommandEventData, eventFilter, parseEvent } from '@drover/contracts';
import { type Bus, type BusMessage, consume, type Consumer } from '@drover/bus';
import { runWithContext } from '@drover/observability';
import { TransientError, ValidationError } from '@drover/service-kit';
import { type CommandOutcome, ENDING_COMMAND_OUTCOMES } from '../domain/rollout-device';
import { deviceRowsQuery, nudge } from './deployment.store';
import { applyToDevice } from './device.progress';
import { type RolloutContext } from './rollout.context';

/** Durable name. */
export const COMMAND_OUTCOME_CONSUMER = 'ota-orchestrator-command-outcomes';

/** Deliveries of one event; see {@link handleCommandOutcome}'s `pending`. */
const MAX_DELIVER = 5;

const COMMANDS = { 'firmware.update': 'update', 'firmware.rollback': 'rollback' } as const;

/** One ending outcome of a command, as the gateway's event tells it. */
export interface CommandOutcomeReport {
  tenant: string;
  deviceId: string;
  commandId: string;
  /** The command name. */
  name: string;
  outcome: CommandOutcome;
  error?: string;
}

/**
 * Applies the outcome to the device row whose update or rollback command it is. Returns
 * `applied` (the row was found; it may not have changed), `ignored` (not a rollout's command,
 * or no row sent it), or `pending`: no row holds the command id yet, but one of the device is
 * between being marked and getting its command id (the driver stores ids once the gateway
 * answered the whole dispatch), so the event may be for it.
 */
export async function handleCommandOutcome(
  ctx: RolloutContext,
  m: CommandOutcomeReport,
): Promise<'applied' | 'ignored' | 'pending'> {
  const command = COMMANDS[m.name as keyof typeof COMMANDS];
  if (command === undefined) return 'ignored';
  const column = command === 'update' ? 'update_command_id' : 'rollback_command_id';
  const now = ctx.now();
  const found = await ctx.db.transaction().execute(async (trx) => {
    const rows = await deviceRowsQuery(trx, m.tenant, m.deviceId)
      .where((eb) =>
        eb.or([
          eb(`deployment_devices.${column}`, '=', m.commandId),
          command === 'update'
            ? eb.and([
                eb('deployment_devices.status', '=', 'updating'),
                eb('deployment_devices.update_command_id', 'is', null),
              ])
            : eb.and([
                eb('deployment_devices.rollback_status', '=', 'rolling_back'),
                eb('deployment_devices.rollback_command_id', 'is', null),
              ]),
        ]),
      )
      .forUpdate('deployment_devices')
      .execute();
    const row = rows.find((r) => r[column] === m.commandId);
    if (row === undefined) return { result: rows.length > 0 ? 'pending' : 'ignored' } as const;
    const changed = await applyToDevice(
      trx,
      row,
      {
        kind: 'command',
        command,
        outcome: m.outcome,
        ...(m.error !== undefined && { error: m.error }),
      },
      row.version,
      now,
    );
    return { result: 'applied', changed: changed ? row.deployment_id : null } as const;
  });
  if (found.result === 'applied' && found.changed !== null) {
    // After the device's transaction: locks are always taken deployment first, device second.
    await nudge(ctx.db, found.changed, now);
    ctx.notifyOutbox();
    ctx.hint();
  }
  return found.result;
}

function decode(msg: BusMessage): CommandOutcomeReport {
  const parsed = parseEvent(msg.data);
  if (!parsed.ok) throw new ValidationError(parsed.reason, parsed.detail);
  const event = parsed.event as CloudEvent<CommandEventData>;
  const outcome = event.data.status as CommandOutcome;
  if (!event.type.startsWith('drover.command.') || !ENDING_COMMAND_OUTCOMES.includes(outcome)) {
    throw new ValidationError('bad_event', `not an ending command event: ${event.type}`);
  }
  return {
    tenant: event.tenant,
    deviceId: event.data.device_id,
    commandId: event.data.command_id,
    name: event.data.name,
    outcome,
    ...(event.data.error !== undefined && { error: event.data.error }),
  };
}

/** Starts the consumer; `stop()` drains its in-flight handlers. */
export async function startCommandOutcomeConsumer(
  bus: Bus,
  ctx: RolloutContext,
  concurrency: number,
): Promise<Consumer> {
  return consume(bus, {
    stream: 'EVENTS',
    durable: COMMAND_OUTCOME_CONSUMER,
    filterSubjects: ENDING_COMMAND_OUTCOMES.map((event) =>
      eventFilter(bus.naming, { aggregate: 'command', event }),
    ),
    concurrency,
    maxDeliver: MAX_DELIVER,
    backoffMs: [500, 1000, 2000, 5000],
    logger: ctx.logger,
    handler: async (msg) => {
      const m = decode(msg);
      const result = await runWithContext({ tenant: m.tenant, deviceId: m.deviceId }, () =>
        handleCommandOutcome(ctx, m),
      );
      if (result !== 'pending') return;
      // Still no command id after every retry: not this rollout's command (e.g. an operator's
      // own firmware.update). Its deadline judges the device, as without the event.
      if (msg.deliveryCount >= MAX_DELIVER) {
        ctx.logger.info(
          { event: 'rollout.command_outcome_unmatched', command_id: m.commandId },
          'a firmware command outcome matched no rollout command; left to the deadline',
        );
        return;
      }
      throw new TransientError('command_id_pending', `no device row holds ${m.commandId} yet`);
    },
  });
}
