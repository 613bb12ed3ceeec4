// Use cases behind the RPC: create (idempotent, sent at once when the device is online), read,
// list, and the rate-limited group fan-out.
import {
  type CancelCommandRequest,
  type CancelDeviceCommandsRequest,
  type CancelDeviceCommandsResponse,
  type CancelFanoutRequest,
  type Command,
  type CommandList,
  type CreateCommandRequest,
  type CreateCommandResponse,
  type BatchCommandResult,
  type CreateCommandsRequest,
  type CreateCommandsResponse,
  type CreateGroupCommandsRequest,
  type Fanout,
  type ListCommandsRequest,
  monotonicUlidFactory,
} from '@drover/contracts';
import { ConflictError, DomainError, NotFoundError, ValidationError } from '@drover/service-kit';
import { eventMessages, outboxRows } from '@drover/bus';
import { resendDelayMs } from '../domain/backoff';
import { decideCancel } from '../domain/command-state';
import { decodeCursor, encodeCursor } from '../domain/cursor';
import { fanoutSlotMs, summarize } from '../domain/fanout';
import {
  countFanout,
  type BatchRow,
  findByIdempotencyKey,
  findByIdempotencyKeys,
  findCommand,
  insertCommands,
  insertCreated,
  listCommands,
  lockUnsent,
  type UnsentScope,
  updateCommands,
} from '../adapters/postgres/command.repository';
import { type CommandRow, type NewCommandRow } from '../adapters/postgres/command.table';
import { outboxEvents } from '../adapters/postgres/outbox';
import { type GatewayContext } from './gateway.context';
import { toCommand } from './command.mapper';
import {
  commandEvent,
  commandMessage,
  countMove,
  handOverDeadline,
  moveTo,
  movePatch,
  planMove,
} from './transition.service';
import { releaseDevice } from './traffic.service';
import { insertBatchAndPublish } from './create-batcher';
import { onlineDevices } from '../adapters/postgres/presence.repository';

// Monotonic: ids made in the same millisecond still sort in creation order (device order).
// Monotonic ULIDs on the use case's clock (pooled randomness: no crypto call per character).
let ulidTime = 0;
const nextUlid = monotonicUlidFactory(() => ulidTime);
const ulid = (time: number = Date.now()): string => {
  ulidTime = time;
  return nextUlid();
};

// The columns a new row gets from their defaults (the queued event is built before the insert).
const unsentDefaults = {
  attempts: 0,
  answered: false,
  dispatched_at: null,
  sent_at: null,
  accepted_at: null,
  completed_at: null,
  due_at: null,
  result: null,
  error: null,
  rtt_ms: null,
};

async function activeDeviceType(ctx: GatewayContext, tenant: string, deviceId: string) {
  const meta = await ctx.deviceMeta(tenant, deviceId);
  if (meta.status !== 'active') {
    throw new ConflictError('device_decommissioned', `device ${deviceId} is decommissioned`);
  }
  return meta.deviceType;
}

function newRow(
  ctx: GatewayContext,
  req: Pick<CreateCommandRequest, 'tenant' | 'name' | 'params' | 'timeout_s' | 'expires_in_s'>,
  deviceId: string,
  deviceType: string,
  now: Date,
  extra: Partial<NewCommandRow> = {},
): NewCommandRow {
  const expiresAt = new Date(now.getTime() + (req.expires_in_s ?? ctx.defaults.expiresInS) * 1000);
  return {
    command_id: ulid(now.getTime()),
    tenant: req.tenant,
    device_id: deviceId,
    device_type: deviceType,
    name: req.name,
    params: JSON.stringify(req.params ?? {}),
    status: 'queued',
    created_at: now,
    expires_at: expiresAt,
    timeout_s: req.timeout_s ?? ctx.defaults.timeoutS,
    next_attempt_at: now,
    // While never sent, the deadline is the expiry.
    deadline_at: expiresAt,
    ...extra,
  };
}

/** Creates a command (or returns the one made with the same idempotency key). */
export async function createCommand(
  ctx: GatewayContext,
  req: CreateCommandRequest,
): Promise<CreateCommandResponse> {
  if (req.idempotency_key !== undefined) {
    const existing = await findByIdempotencyKey(ctx.db, req.tenant, req.idempotency_key);
    if (existing !== undefined) return { command: toCommand(existing), created: false };
  }
  const deviceType = await activeDeviceType(ctx, req.tenant, req.device_id);
  const now = ctx.now();
  const row = newRow(ctx, req, req.device_id, deviceType, now, {
    idempotency_key: req.idempotency_key ?? null,
  });
  // Everything the statement may write is prepared here, so the create is one round trip.
  const queued: CommandRow = {
    ...unsentDefaults,
    ...row,
    params: req.params ?? {},
    idempotency_key: req.idempotency_key ?? null,
    fanout_id: null,
  } as CommandRow;
  const plan = {
    nextAttemptAt: new Date(now.getTime() + resendDelayMs(ctx.backoff, 1, ctx.random())),
    deadlineAt: handOverDeadline(ctx, queued.timeout_s, now),
  };
  const [event, message] = outboxRows([
    ...eventMessages([commandEvent(queued, now)]),
    commandMessage(ctx, queued, 1, now),
  ]);
  const outbox = { event: event!, dispatch: message! };
  // The queued event and (if sent at once) the COMMANDS message go out right after the commit.
  const result =
    req.idempotency_key === undefined && ctx.createBatch !== undefined
      ? await ctx.createBatch(req.tenant, { row, plan, outbox })
      : await ctx.publishAfterCommit(
          [outbox.event, outbox.dispatch],
          () => insertCreated(ctx.db, row, plan, outbox),
          (r) => {
            if (r === null) return [];
            if (r.attempts === 1) ctx.rowCache?.set(r);
            return r.attempts === 1 ? [outbox.event, outbox.dispatch] : [outbox.event];
          },
        );
  if (result === null) {
    // A concurrent call with the same key won.
    const winner = await findByIdempotencyKey(ctx.db, req.tenant, req.idempotency_key!);
    return { command: toCommand(winner!), created: false };
  }
  if (result.attempts === 1) {
    ctx.metrics.dispatches.inc({ kind: 'send' });
    ctx.hint(plan.nextAttemptAt);
    ctx.hint(plan.deadlineAt);
  }
  ctx.hint(new Date(result.expires_at));
  if (result.attempts === 0) await releaseIfCameOnline(ctx, req.tenant, [req.device_id]);
  return { command: toCommand(result), created: true };
}

/**
 * The create statement read the device offline and parked the command. An `online` stored
 * while the statement ran released the device before this row was committed, so it did not
 * see the row: read presence again now that the row is visible, and release it if needed
 * (a later `online` release sees the row by itself).
 */
async function releaseIfCameOnline(
  ctx: GatewayContext,
  tenant: string,
  deviceIds: string[],
): Promise<void> {
  const online = await onlineDevices(ctx.db, tenant, deviceIds);
  for (const deviceId of online) await releaseDevice(ctx, tenant, deviceId);
}

// Lookups of one batch started at once (only for items without a trusted type): all of a
// batch of 500, which the meta loader sends to the registry as one `get_devices_meta` call.
const META_CONCURRENCY = 500;

/** The device type of each item: trusted from the caller, else looked up (cached, batched). */
async function batchDeviceTypes(
  ctx: GatewayContext,
  req: CreateCommandsRequest,
  items: CreateCommandsRequest['commands'],
): Promise<Map<string, string | DomainError>> {
  const out = new Map<string, string | DomainError>();
  const lookup: string[] = [];
  for (const c of items) {
    if (c.device_type !== undefined) out.set(c.device_id, c.device_type);
    else if (!lookup.includes(c.device_id)) lookup.push(c.device_id);
  }
  let next = 0;
  const worker = async () => {
    while (next < lookup.length) {
      const id = lookup[next++]!;
      try {
        out.set(id, await activeDeviceType(ctx, req.tenant, id));
      } catch (err) {
        if (!(err instanceof DomainError) || err.status >= 500) throw err;
        out.set(id, err);
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(META_CONCURRENCY, lookup.length) }, () => worker()),
  );
  return out;
}

/**
 * Creates up to 500 commands of one tenant in one transaction-free statement (see
 * `insertCreatedBatch`): keys already used return their command (`created: false`), an unknown
 * or decommissioned device is that item's error, the rest are created, each sent at once when
 * its device is online. Results come in request order. An item carrying `device_type` is
 * trusted (an internal caller that already resolved the device, e.g. the OTA orchestrator);
 * without it the gateway looks the device up as `create_command` does.
 */
export async function createCommands(
  ctx: GatewayContext,
  req: CreateCommandsRequest,
): Promise<CreateCommandsResponse> {
  const keys = req.commands.map((c) => c.idempotency_key);
  if (new Set(keys).size !== keys.length) {
    throw new ValidationError('duplicate_idempotency_key', 'idempotency keys repeat in the batch');
  }
  const existing = new Map(
    (await findByIdempotencyKeys(ctx.db, req.tenant, keys)).map((r) => [r.idempotency_key!, r]),
  );
  const fresh = req.commands.filter((c) => !existing.has(c.idempotency_key));
  const types = await batchDeviceTypes(ctx, req, fresh);
  const now = ctx.now();
  const batch: BatchRow[] = [];
  const refused = new Map<string, DomainError>();
  for (const c of fresh) {
    const type = types.get(c.device_id)!;
    if (type instanceof DomainError) {
      refused.set(c.idempotency_key, type);
      continue;
    }
    const item = { ...c, tenant: req.tenant };
    const row = newRow(ctx, item, c.device_id, type, now, { idempotency_key: c.idempotency_key });
    const queued = {
      ...unsentDefaults,
      ...row,
      params: c.params ?? {},
      fanout_id: null,
    } as CommandRow;
    const [event, message] = outboxRows([
      ...eventMessages([commandEvent(queued, now)]),
      commandMessage(ctx, queued, 1, now),
    ]);
    batch.push({
      row,
      plan: {
        nextAttemptAt: new Date(now.getTime() + resendDelayMs(ctx.backoff, 1, ctx.random())),
        deadlineAt: handOverDeadline(ctx, queued.timeout_s, now),
      },
      outbox: { event: event!, dispatch: message! },
    });
  }
  const inserted = new Map(
    (await insertBatchAndPublish(ctx, req.tenant, batch)).map((r) => [r.idempotency_key!, r]),
  );
  // Keys a concurrent call took between the read and the insert: its commands are the answer.
  const lost = batch.map((b) => b.row.idempotency_key!).filter((k) => !inserted.has(k));
  for (const r of await findByIdempotencyKeys(ctx.db, req.tenant, lost)) {
    existing.set(r.idempotency_key!, r);
  }
  // The scanner needs only the earliest timer of the batch to wake in time.
  const plans = new Map(batch.map((b) => [b.row.command_id, b.plan]));
  const timers: Date[] = [];
  for (const r of inserted.values()) {
    const plan = plans.get(r.command_id)!;
    if (r.attempts === 1) {
      ctx.metrics.dispatches.inc({ kind: 'send' });
      timers.push(plan.nextAttemptAt, plan.deadlineAt);
    }
    timers.push(new Date(r.expires_at));
  }
  if (timers.length > 0) ctx.hint(new Date(Math.min(...timers.map((t) => t.getTime()))));
  const parked = [...inserted.values()].filter((r) => r.attempts === 0).map((r) => r.device_id);
  if (parked.length > 0) await releaseIfCameOnline(ctx, req.tenant, [...new Set(parked)]);
  const results: BatchCommandResult[] = req.commands.map((c) => {
    const base = { device_id: c.device_id, idempotency_key: c.idempotency_key };
    const mine = inserted.get(c.idempotency_key);
    if (mine !== undefined)
      return { ...base, created: true, command: toCommand(mine), error: null };
    const before = existing.get(c.idempotency_key);
    if (before !== undefined) {
      return { ...base, created: false, command: toCommand(before), error: null };
    }
    const err = refused.get(c.idempotency_key);
    return {
      ...base,
      created: false,
      command: null,
      error: {
        code: err?.code ?? 'command_not_created',
        status: err?.status ?? 503,
        detail: err?.detail ?? 'not created; retry with the same key',
      },
    };
  });
  return { results };
}

/** One command of the tenant. */
export async function getCommand(
  ctx: GatewayContext,
  tenant: string,
  commandId: string,
): Promise<Command> {
  const row = await findCommand(ctx.db, tenant, commandId);
  if (row === undefined) throw new NotFoundError('command_not_found', `no command ${commandId}`);
  return toCommand(row);
}

/** A page of the tenant's commands, newest first. */
export async function listTenantCommands(
  ctx: GatewayContext,
  req: ListCommandsRequest,
): Promise<CommandList> {
  const limit = req.limit ?? 50;
  const before = req.cursor === undefined ? undefined : decodeCursor(req.cursor);
  if (before === null) throw new ValidationError('bad_cursor', 'cursor is not valid');
  const rows = await listCommands(ctx.db, {
    tenant: req.tenant,
    limit: limit + 1,
    ...(req.device_id !== undefined && { deviceId: req.device_id }),
    ...(req.status !== undefined && { status: req.status }),
    ...(req.fanout_id !== undefined && { fanoutId: req.fanout_id }),
    ...(before !== undefined && { before }),
  });
  const page = rows.slice(0, limit);
  const more = rows.length > limit;
  return {
    items: page.map(toCommand),
    next_cursor: more ? encodeCursor(page[page.length - 1]!.command_id) : null,
  };
}

/** The fan-out a tenant created with `key`, refused if the key was used for another request. */
async function fanoutByKey(
  ctx: GatewayContext,
  req: CreateGroupCommandsRequest,
  key: string,
): Promise<Fanout | null> {
  const f = await ctx.db
    .selectFrom('fanouts')
    .select(['fanout_id', 'group_id', 'name'])
    .where('tenant', '=', req.tenant)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
  if (f === undefined) return null;
  if (f.group_id !== req.group_id || f.name !== req.name) {
    throw new ConflictError(
      'idempotency_key_reused',
      `Idempotency-Key ${key} was used for a fan-out of ${f.name} to group ${f.group_id}`,
    );
  }
  return getFanout(ctx, req.tenant, f.fanout_id);
}

/**
 * One command per group member, released at `rate_per_s` (slots stored as row timers). With an
 * idempotency key, a retried call returns the fan-out the first one made (no second set of
 * commands), also when both calls race.
 */
export async function createGroupCommands(
  ctx: GatewayContext,
  req: CreateGroupCommandsRequest,
): Promise<Fanout> {
  const key = req.idempotency_key ?? null;
  if (key !== null) {
    const existing = await fanoutByKey(ctx, req, key);
    if (existing !== null) return existing;
  }
  const devices = await ctx.groupDevices(req.tenant, req.group_id);
  const rate = req.rate_per_s ?? ctx.defaults.groupRatePerS;
  const fanoutId = ulid();
  const now = ctx.now();
  const rows = devices.map((d, i) => {
    const slot = new Date(fanoutSlotMs(now.getTime(), i, rate));
    return newRow(ctx, req, d.deviceId, d.deviceType, now, {
      fanout_id: fanoutId,
      next_attempt_at: slot,
    });
  });
  const created = await ctx.db.transaction().execute(async (trx) => {
    const fanout = await trx
      .insertInto('fanouts')
      .values({
        fanout_id: fanoutId,
        tenant: req.tenant,
        group_id: req.group_id,
        name: req.name,
        rate_per_s: rate,
        total: rows.length,
        created_at: now,
        idempotency_key: key,
      })
      .onConflict((oc) => oc.columns(['tenant', 'idempotency_key']).doNothing())
      .returning('fanout_id')
      .executeTakeFirst();
    if (fanout === undefined) return false; // a concurrent call with the same key won
    for (let i = 0; i < rows.length; i += 500) {
      const chunk = rows.slice(i, i + 500);
      const inserted = await insertCommands(trx, chunk);
      await outboxEvents(
        trx,
        inserted.map((r) => commandEvent(r, now)),
      );
    }
    return true;
  });
  if (!created) return (await fanoutByKey(ctx, req, key!))!;
  ctx.notifyOutbox();
  ctx.hint(now);
  return getFanout(ctx, req.tenant, fanoutId);
}

/** Progress of a fan-out. */
export async function getFanout(
  ctx: GatewayContext,
  tenant: string,
  fanoutId: string,
): Promise<Fanout> {
  const f = await ctx.db
    .selectFrom('fanouts')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('fanout_id', '=', fanoutId)
    .executeTakeFirst();
  if (f === undefined) throw new NotFoundError('fanout_not_found', `no fan-out ${fanoutId}`);
  const s = summarize(await countFanout(ctx.db, fanoutId), f.total);
  return {
    fanout_id: f.fanout_id,
    tenant: f.tenant,
    group_id: f.group_id,
    name: f.name,
    rate_per_s: f.rate_per_s,
    total: f.total,
    created_at: new Date(f.created_at).toISOString(),
    counts: s.counts as Record<string, number>,
    done: s.done,
  };
}

// A cancel keeps its reason as the command's error (what the event and GET show).
const cancelError = (reason: string | undefined) => reason ?? 'cancelled';
// Fan-out commands withdrawn per transaction.
const CANCEL_CHUNK = 500;

/**
 * `cancel_command`: withdraws a command that was never handed to the broker (`cancelled`,
 * final, with its `command.cancelled` event); it is never sent after that. Cancelling a
 * cancelled command returns it as it is. The row lock orders it with a release or a scanner
 * pass that would hand the command over: whichever comes second sees the other's outcome.
 */
export async function cancelCommand(
  ctx: GatewayContext,
  req: CancelCommandRequest,
): Promise<Command> {
  const now = ctx.now();
  const row = await ctx.db.transaction().execute(async (trx) => {
    const r = await findCommand(trx, req.tenant, req.command_id, true);
    if (r === undefined) {
      throw new NotFoundError('command_not_found', `no command ${req.command_id}`);
    }
    const decision = decideCancel(r.status, r.attempts);
    if (decision.kind === 'ignore') return r;
    if (decision.kind === 'refuse') {
      throw decision.reason === 'final'
        ? new ConflictError('command_final', `command ${r.command_id} is already ${r.status}`)
        : new ConflictError(
            'command_already_sent',
            `command ${r.command_id} was handed to the broker (${r.status}, ${r.attempts} ` +
              'attempt(s)): it may be on the device and can no longer be withdrawn',
          );
    }
    return moveTo(trx, ctx, r, decision.to, now, { error: cancelError(req.reason) });
  });
  // No row-cache entry to drop: the cache holds only commands handed over, never cancelled ones.
  ctx.notifyOutbox();
  return toCommand(row);
}

/**
 * Withdraws the commands of `scope` never handed over (each locked), `CANCEL_CHUNK` a
 * transaction, until none is left; each becomes `cancelled` with `error`. Returns how many.
 */
async function withdrawUnsent(
  ctx: GatewayContext,
  scope: UnsentScope,
  error: string,
): Promise<number> {
  const now = ctx.now();
  let withdrawn = 0;
  for (;;) {
    const { locked, moves } = await ctx.db.transaction().execute(async (trx) => {
      const rows = await lockUnsent(trx, scope, CANCEL_CHUNK);
      const moves = rows.flatMap((r) => {
        const d = decideCancel(r.status, r.attempts);
        return d.kind === 'move' ? [{ row: r, move: planMove(r, d.to, now, { error }) }] : [];
      });
      // Never handed over, every row moves the same way (no answer, no sent time, no rtt).
      const patch = moves[0] === undefined ? null : movePatch(moves[0].move.next);
      if (patch !== null) {
        await updateCommands(
          trx,
          moves.map((m) => m.row.command_id),
          patch,
        );
      }
      await outboxEvents(
        trx,
        moves.map((m) => m.move.event),
      );
      return { locked: rows.length, moves };
    });
    for (const m of moves) countMove(ctx, m.row, m.move, now);
    withdrawn += moves.length;
    // A chunk that moved nothing would be locked again as it is: stop rather than spin.
    if (locked < CANCEL_CHUNK || moves.length === 0) break;
  }
  ctx.notifyOutbox();
  return withdrawn;
}

/**
 * `cancel_fanout`: withdraws every command of a fan-out that was never handed over, in
 * transactions of `CANCEL_CHUNK` rows (each locked, as `cancel_command` locks one); commands
 * already handed over go on. Returns the fan-out's progress after it. Repeatable.
 */
export async function cancelFanout(ctx: GatewayContext, req: CancelFanoutRequest): Promise<Fanout> {
  await getFanout(ctx, req.tenant, req.fanout_id);
  await withdrawUnsent(
    ctx,
    { tenant: req.tenant, fanoutId: req.fanout_id },
    cancelError(req.reason),
  );
  return getFanout(ctx, req.tenant, req.fanout_id);
}

/**
 * `cancel_device_commands`: withdraws every command of a device that was never handed over (the
 * ones waiting for it to come online); the ones already sent go on. Also run when the registry
 * decommissions a device: its waiting commands could never be delivered. Repeatable.
 */
export async function cancelDeviceCommands(
  ctx: GatewayContext,
  req: CancelDeviceCommandsRequest,
): Promise<CancelDeviceCommandsResponse> {
  const cancelled = await withdrawUnsent(
    ctx,
    { tenant: req.tenant, deviceId: req.device_id },
    cancelError(req.reason),
  );
  return { device_id: req.device_id, cancelled };
}
