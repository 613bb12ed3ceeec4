// Command rows: every query is tenant-scoped, and everything the scanner or a handler changes
// is locked first (FOR UPDATE, SKIP LOCKED for the scanner) so replicas never double-handle.
import { sql, type Updateable } from 'kysely';
import { type OutboxInsertRow, outboxBatchLine } from '@drover/bus';
import { executePrepared } from '@drover/db';
import { type CommandStatus, OPEN_STATUSES } from '../../domain/command-state';
import { type CommandRow, type CommandTable, type NewCommandRow } from './command.table';
import { presenceKey } from './presence.repository';
import { type Executor } from './schema';

type Patch = Partial<Omit<Updateable<CommandTable>, 'command_id'>>;

/** What a new command becomes if its device is online: dispatched at once, timers armed. */
export interface DispatchPlan {
  /** The first resend's time. */
  nextAttemptAt: Date;
  /** The time-out. */
  deadlineAt: Date;
}

/**
 * Creates a command in one statement (one round trip, atomic without an explicit
 * transaction): the row, its `command.queued` event and, if the device is online by the stored
 * presence, its dispatch (the COMMANDS message and armed timers); otherwise it is parked
 * (`next_attempt_at` null) until the device connects. Returns null when the tenant already
 * used the idempotency key (nothing is written then).
 */
export async function insertCreated(
  db: Executor,
  row: NewCommandRow,
  plan: DispatchPlan,
  outbox: { event: OutboxInsertRow; dispatch: OutboxInsertRow },
): Promise<VersionedRow | null> {
  const messages = JSON.stringify([
    { k: 0, ...outbox.event },
    { k: 1, ...outbox.dispatch },
  ]);
  const r = await executePrepared(
    db,
    'drover_cmd_create',
    sql<VersionedRow>`
    with p as (
      select exists (
        select 1 from device_presence
        where tenant = ${row.tenant} and device_id = ${row.device_id} and online
      ) as online
    ), ins as (
      insert into commands (
        command_id, tenant, device_id, device_type, name, params, status, created_at, expires_at,
        timeout_s, idempotency_key, fanout_id, attempts, dispatched_at, next_attempt_at,
        deadline_at
      )
      select ${row.command_id}, ${row.tenant}, ${row.device_id}, ${row.device_type}, ${row.name},
        ${row.params}::jsonb, 'queued', ${row.created_at}::timestamptz,
        ${row.expires_at}::timestamptz, ${row.timeout_s}::int, ${row.idempotency_key ?? null},
        ${row.fanout_id ?? null},
        case when p.online then 1 else 0 end,
        case when p.online then ${row.created_at}::timestamptz end,
        case when p.online then ${plan.nextAttemptAt}::timestamptz end,
        case when p.online then ${plan.deadlineAt}::timestamptz
          else ${row.expires_at}::timestamptz end
      from p
      on conflict (tenant, idempotency_key) where idempotency_key is not null do nothing
      returning *, xmin::text as row_version
    ), ob as (
      insert into outbox (event_id, subject, payload, headers)
      select m.event_id, m.subject, m.payload::jsonb, m.headers::jsonb
      from ins, p,
        jsonb_to_recordset(${messages}::jsonb)
          as m(k int, event_id text, subject text, payload text, headers text)
      where m.k = 0 or p.online
      order by m.k
      on conflict (event_id) do nothing
    )
    select * from ins
  `,
  );
  return r.rows[0] ?? null;
}

/** Inserts many rows (fan-out); returns them as stored, in the order given. */
export async function insertCommands(db: Executor, rows: NewCommandRow[]): Promise<CommandRow[]> {
  if (rows.length === 0) return [];
  const stored = await db.insertInto('commands').values(rows).returningAll().execute();
  const byId = new Map(stored.map((r) => [r.command_id, r]));
  return rows.map((r) => byId.get(r.command_id)!);
}

/** The command a tenant created with `key`. */
export async function findByIdempotencyKey(
  db: Executor,
  tenant: string,
  key: string,
): Promise<CommandRow | undefined> {
  return db
    .selectFrom('commands')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('idempotency_key', '=', key)
    .executeTakeFirst();
}

/** One command, optionally locked for update. */
export async function findCommand(
  db: Executor,
  tenant: string,
  commandId: string,
  lock = false,
): Promise<CommandRow | undefined> {
  let q = db
    .selectFrom('commands')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('command_id', '=', commandId);
  if (lock) q = q.forUpdate();
  return q.executeTakeFirst();
}

/** A command row with its row version (`xmin`) for a compare-and-set update. */
export type VersionedRow = CommandRow & { row_version: string };

/** The commands `commandIds` with their row versions, not locked (any tenant: check per report). */
export async function findVersionedMany(
  db: Executor,
  commandIds: string[],
): Promise<VersionedRow[]> {
  if (commandIds.length === 0) return [];
  const r = await sql<VersionedRow>`
    select *, xmin::text as row_version from commands where command_id = any(${commandIds})
  `.execute(db);
  return r.rows;
}

/** The columns a move writes (see `movePatch`). */
export interface MovePatch {
  status: CommandStatus;
  sent_at: Date | string | null;
  accepted_at: Date | string | null;
  completed_at: Date | string | null;
  next_attempt_at: Date | string | null;
  deadline_at: Date | string | null;
  rtt_ms: number | null;
  /** JSON text. */
  result: string | null;
  error: string | null;
  answered: boolean;
}

/**
 * The text of a batch outbox row holding `messages` (one line each, in order) and the command
 * of each line: a statement keeps the lines of the commands it wrote, in order, and stores them
 * as one row (`outboxBatchMigration`). One text parameter, not a JSON document: Postgres neither
 * parses nor unescapes the payloads.
 */
function batchLines(messages: { commandId: string; row: OutboxInsertRow }[]): {
  lines: string;
  lineCommands: string[];
} {
  return {
    lines: messages.map((m) => outboxBatchLine(m.row)).join('\n'),
    lineCommands: messages.map((m) => m.commandId),
  };
}

/** One row of {@link compareAndMoveMany}: the move read at `version` and its outbox rows. */
export interface VersionedMove {
  /** The command. */
  commandId: string;
  /** Its row version (`xmin`) when read. */
  version: string;
  /** The columns to write. */
  patch: MovePatch;
  /** Its outbox rows, in order. */
  outbox: OutboxInsertRow[];
}

/**
 * Writes many moves read at their versions and enqueues their outbox rows, in one statement
 * (one round trip, one commit): a row is written only if it is unchanged since it was read and
 * not locked right now by someone about to change it (it never waits on a row lock, so a batch
 * does not hold a pool connection while the scanner works on its rows). The outbox messages of
 * the rows written go into one batch row with id `batchId`, in the order given (across rows;
 * nothing if no row was written). Returns the ids written with their new row versions; the
 * others changed since they were read: read them again.
 */
export async function compareAndMoveMany(
  db: Executor,
  moves: VersionedMove[],
  batchId: string,
): Promise<Map<string, string>> {
  if (moves.length === 0) return new Map();
  const iso = (d: Date | string | null) => (d === null ? null : new Date(d).toISOString());
  const rows = JSON.stringify(
    moves.map(({ commandId, version, patch: p }) => ({
      command_id: commandId,
      version,
      status: p.status,
      sent_at: iso(p.sent_at),
      accepted_at: iso(p.accepted_at),
      completed_at: iso(p.completed_at),
      next_attempt_at: iso(p.next_attempt_at),
      deadline_at: iso(p.deadline_at),
      rtt_ms: p.rtt_ms,
      result: p.result,
      error: p.error,
      answered: p.answered,
    })),
  );
  const { lines, lineCommands } = batchLines(
    moves.flatMap((m) => m.outbox.map((row) => ({ commandId: m.commandId, row }))),
  );
  // Not a prepared statement: prepared, its executions took 1.7x as long in total at 1,000
  // commands/s (pg_stat_statements; Postgres settles on a generic plan worse than the per-call
  // one), far more than the planning it saves; 2.6x at 500/s once the `limit` below was in.
  // The `limit` is the row count the planner cannot know from `jsonb_to_recordset` (it assumes
  // 100): with 100, a `commands` table without statistics yet (a new schema, before autovacuum
  // analyzes it; a server without autovacuum) is read whole by every batch, a cost that grows
  // with the table (9 ms a batch at 30,000 rows, against 0.7 ms along the primary key).
  const r = await sql<{ command_id: string; row_version: string }>`
    with v as (
      select * from jsonb_to_recordset(${rows}::jsonb) as v(
        command_id text, version text, status text, sent_at timestamptz, accepted_at timestamptz,
        completed_at timestamptz, next_attempt_at timestamptz, deadline_at timestamptz,
        rtt_ms int, result text, error text, answered boolean
      )
      limit ${moves.length}
    ), locked as (
      select c.command_id from commands c
      join v on v.command_id = c.command_id and c.xmin = v.version::xid
      for update of c skip locked
    ), upd as (
      update commands c set
        status = v.status,
        sent_at = v.sent_at,
        accepted_at = v.accepted_at,
        completed_at = v.completed_at,
        next_attempt_at = v.next_attempt_at,
        deadline_at = v.deadline_at,
        rtt_ms = v.rtt_ms,
        result = v.result::jsonb,
        error = v.error,
        answered = v.answered
      from v join locked on locked.command_id = v.command_id
      where c.command_id = v.command_id
      returning c.command_id, c.xmin::text as row_version
    ), ob as (
      insert into outbox (event_id, batch)
      select ${batchId}, string_agg(l.line, E'\n' order by l.n)
      from string_to_table(${lines}::text, E'\n') with ordinality as l(line, n)
        join unnest(${lineCommands}::text[]) with ordinality as c(command_id, n) on c.n = l.n
        join upd on upd.command_id = c.command_id
      having count(*) > 0
    )
    select command_id, row_version from upd
  `.execute(db);
  return new Map(r.rows.map((row) => [row.command_id, row.row_version]));
}

/** Updates one command. */
export async function updateCommand(db: Executor, commandId: string, patch: Patch): Promise<void> {
  await db.updateTable('commands').set(patch).where('command_id', '=', commandId).execute();
}

/** Updates one command; returns it as written, with its new row version. */
export async function updateCommandVersioned(
  db: Executor,
  commandId: string,
  patch: Patch,
): Promise<VersionedRow> {
  const row = await db
    .updateTable('commands')
    .set(patch)
    .where('command_id', '=', commandId)
    .returningAll()
    .returning(sql<string>`xmin::text`.as('row_version'))
    .executeTakeFirstOrThrow();
  return row as VersionedRow;
}

/** Due rows (timers reached), locked; rows another replica holds are skipped. */
export async function lockDue(db: Executor, now: Date, limit: number): Promise<CommandRow[]> {
  return db
    .selectFrom('commands')
    .selectAll()
    .where('status', 'in', [...OPEN_STATUSES])
    .where('due_at', '<=', now)
    .orderBy('due_at')
    .orderBy('command_id')
    .limit(limit)
    .forUpdate()
    .skipLocked()
    .execute();
}

// Waiting for its device: never sent, or sent and unanswered, and not waiting for a later
// resend. Column names unqualified: the `commands` row of the query it is used in.
const waitingAt = (now: Date) =>
  sql<boolean>`status in ('queued', 'sent') and answered = false
    and (next_attempt_at is null or next_attempt_at <= ${now})`;

/**
 * The devices among `keys` that have a command waiting (their {@link presenceKey}s), in one
 * plain read: one primary-key-ordered probe per device, nothing locked.
 */
export async function devicesWithWaiting(
  db: Executor,
  keys: readonly { tenant: string; deviceId: string }[],
  now: Date,
): Promise<Set<string>> {
  if (keys.length === 0) return new Set();
  // A lateral probe per device: as an `exists`, the planner may read every waiting command of
  // the table instead (see the batch create's presence lookup).
  const r = await sql<{ tenant: string; device_id: string }>`
    select k.tenant, k.device_id
    from unnest(${keys.map((k) => k.tenant)}::text[], ${keys.map((k) => k.deviceId)}::text[])
      as k(tenant, device_id)
    join lateral (
      select 1 from commands c
      where c.tenant = k.tenant and c.device_id = k.device_id and ${waitingAt(now)}
      limit 1
    ) w on true
  `.execute(db);
  return new Set(r.rows.map((row) => presenceKey(row.tenant, row.device_id)));
}

/** A device's commands waiting for it (never sent, or sent and unanswered), in order, locked. */
export async function lockWaitingForDevice(
  db: Executor,
  tenant: string,
  deviceId: string,
  now: Date,
): Promise<CommandRow[]> {
  return db
    .selectFrom('commands')
    .where('tenant', '=', tenant)
    .where('device_id', '=', deviceId)
    .where(waitingAt(now))
    .selectAll()
    .orderBy('command_id')
    .forUpdate()
    .skipLocked()
    .execute();
}

/** The earliest timer of any open command (the scanner sleeps until then). */
export async function earliestDue(db: Executor): Promise<Date | null> {
  const row = await db
    .selectFrom('commands')
    .select((eb) => eb.fn.min('due_at').as('due'))
    .where('status', 'in', [...OPEN_STATUSES])
    .executeTakeFirst();
  const due = row?.due as Date | string | null | undefined;
  return due === null || due === undefined ? null : new Date(due);
}

/** Newest first, keyset on command_id. */
export async function listCommands(
  db: Executor,
  f: {
    tenant: string;
    deviceId?: string;
    status?: CommandStatus;
    fanoutId?: string;
    before?: string;
    limit: number;
  },
): Promise<CommandRow[]> {
  let q = db.selectFrom('commands').selectAll().where('tenant', '=', f.tenant);
  if (f.deviceId !== undefined) q = q.where('device_id', '=', f.deviceId);
  if (f.status !== undefined) q = q.where('status', '=', f.status);
  if (f.fanoutId !== undefined) q = q.where('fanout_id', '=', f.fanoutId);
  if (f.before !== undefined) q = q.where('command_id', '<', f.before);
  return q.orderBy('command_id', 'desc').limit(f.limit).execute();
}

/** Whose commands a cancel withdraws: a fan-out's, or a device's. */
export type UnsentScope = { tenant: string } & ({ fanoutId: string } | { deviceId: string });

/**
 * Locks up to `limit` commands of `scope` that were never handed over (oldest first): the ones a
 * cancel may still withdraw.
 */
export async function lockUnsent(
  db: Executor,
  scope: UnsentScope,
  limit: number,
): Promise<CommandRow[]> {
  let q = db
    .selectFrom('commands')
    .selectAll()
    .where('tenant', '=', scope.tenant)
    .where('status', '=', 'queued')
    .where('attempts', '=', 0);
  q =
    'fanoutId' in scope
      ? q.where('fanout_id', '=', scope.fanoutId)
      : q.where('device_id', '=', scope.deviceId);
  return q.orderBy('command_id').limit(limit).forUpdate().execute();
}

/** Writes the same patch to many commands. */
export async function updateCommands(db: Executor, ids: string[], patch: Patch): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('commands').set(patch).where('command_id', 'in', ids).execute();
}

/** Commands of a fan-out counted by state. */
export async function countFanout(
  db: Executor,
  fanoutId: string,
): Promise<Partial<Record<CommandStatus, number>>> {
  const rows = await db
    .selectFrom('commands')
    .select(['status', sql<string>`count(*)`.as('n')])
    .where('fanout_id', '=', fanoutId)
    .groupBy('status')
    .execute();
  return Object.fromEntries(rows.map((r) => [r.status, Number(r.n)]));
}

/** A fan-out's rate and how many of its commands were first dispatched since `since`. */
export async function fanoutPace(
  db: Executor,
  fanoutId: string,
  since: Date,
): Promise<{ ratePerS: number; recent: number } | null> {
  const fanout = await db
    .selectFrom('fanouts')
    .select('rate_per_s')
    .where('fanout_id', '=', fanoutId)
    .executeTakeFirst();
  if (fanout === undefined) return null;
  const { n } = await db
    .selectFrom('commands')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .where('fanout_id', '=', fanoutId)
    .where('dispatched_at', '>', since)
    .executeTakeFirstOrThrow();
  return { ratePerS: fanout.rate_per_s, recent: Number(n) };
}

/** One row of a batch create with what it becomes if its device is online. */
export interface BatchRow {
  /** The row (its idempotency key set). */
  row: NewCommandRow;
  /** Dispatch timers if online. */
  plan: DispatchPlan;
  /** Its `command.queued` event and its COMMANDS message. */
  outbox: { event: OutboxInsertRow; dispatch: OutboxInsertRow };
}

/**
 * Creates many commands of one tenant in one statement: a multi-row insert that skips keys the
 * tenant already used (`on conflict (tenant, idempotency_key) do nothing`), each inserted row
 * dispatched at once when its device is online by the stored presence (else parked), and the
 * inserted rows' events and dispatch messages written to the outbox in the same statement
 * (atomic), as one batch row with id `batchId` (nothing if no row was inserted). Returns the
 * rows inserted now; a row whose key existed is not among them.
 */
export async function insertCreatedBatch(
  db: Executor,
  tenant: string,
  batch: BatchRow[],
  batchId: string,
): Promise<VersionedRow[]> {
  if (batch.length === 0) return [];
  const rows = JSON.stringify(
    batch.map((b, i) => ({
      i,
      command_id: b.row.command_id,
      device_id: b.row.device_id,
      device_type: b.row.device_type,
      name: b.row.name,
      params: b.row.params,
      created_at: new Date(b.row.created_at as Date).toISOString(),
      expires_at: new Date(b.row.expires_at as Date).toISOString(),
      timeout_s: b.row.timeout_s,
      idempotency_key: b.row.idempotency_key,
      next_attempt_at: b.plan.nextAttemptAt.toISOString(),
      deadline_at: b.plan.deadlineAt.toISOString(),
    })),
  );
  // Each command's event, then its dispatch (written only if its device is online).
  const { lines, lineCommands } = batchLines(
    batch.flatMap((b) => [
      { commandId: b.row.command_id, row: b.outbox.event },
      { commandId: b.row.command_id, row: b.outbox.dispatch },
    ]),
  );
  const r = await executePrepared(
    db,
    'drover_cmd_create_batch',
    sql<VersionedRow>`
    with input as (
      select r.*, p.online is not null as online
      from (
        -- The limit tells the planner the row count (see compareAndMoveMany).
        select * from jsonb_to_recordset(${rows}::jsonb) as r(
          i int, command_id text, device_id text, device_type text, name text, params text,
          created_at timestamptz, expires_at timestamptz, timeout_s int, idempotency_key text,
          next_attempt_at timestamptz, deadline_at timestamptz
        )
        limit ${batch.length}
      ) r
      -- One primary-key lookup per row. As an \`exists\`, the planner may hash the tenant's
      -- whole presence instead (all 2,000 rows of a bench fleet, 2 ms, every batch).
      left join lateral (
        select true as online from device_presence p
        where p.tenant = ${tenant} and p.device_id = r.device_id and p.online
        limit 1
      ) p on true
    ), ins as (
      insert into commands (
        command_id, tenant, device_id, device_type, name, params, status, created_at, expires_at,
        timeout_s, idempotency_key, fanout_id, attempts, dispatched_at, next_attempt_at,
        deadline_at
      )
      select command_id, ${tenant}, device_id, device_type, name, params::jsonb, 'queued',
        created_at, expires_at, timeout_s, idempotency_key, null,
        case when online then 1 else 0 end,
        case when online then created_at end,
        case when online then next_attempt_at end,
        case when online then deadline_at else expires_at end
      from input
      order by i
      on conflict (tenant, idempotency_key) where idempotency_key is not null do nothing
      returning *, xmin::text as row_version
    ), ob as (
      insert into outbox (event_id, batch)
      select ${batchId}, string_agg(l.line, E'\n' order by l.n)
      from string_to_table(${lines}::text, E'\n') with ordinality as l(line, n)
        join unnest(${lineCommands}::text[]) with ordinality as c(command_id, n) on c.n = l.n
        join ins on ins.command_id = c.command_id
        join input on input.command_id = ins.command_id
      where l.n % 2 = 1 or input.online -- odd lines are the events, even ones the dispatches
      having count(*) > 0
    )
    select * from ins
  `,
  );
  return r.rows;
}

/** The commands a tenant created with any of `keys`. */
export async function findByIdempotencyKeys(
  db: Executor,
  tenant: string,
  keys: string[],
): Promise<CommandRow[]> {
  if (keys.length === 0) return [];
  return db
    .selectFrom('commands')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('idempotency_key', 'in', keys)
    .execute();
}
