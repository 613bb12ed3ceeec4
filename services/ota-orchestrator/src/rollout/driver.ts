// The rollout driver: claims due deployments (next_evaluation_at <= now) with a lease taken
// through FOR UPDATE SKIP LOCKED, so any number of replicas share the work and one deployment is
// driven by one replica at a time, then takes one step per deployment: expire device deadlines,
// judge the health gate, start a stage, dispatch a batch at the deployment's rate, start or end
// a soak, roll back. Every step ends by writing the deployment's next timer. Commands carry an
// idempotency key per (deployment, device, action), so a step repeated after a crash finds the
// command it created instead of sending a second one.
import { sql } from 'kysely';
import {
  COMMAND_LIMITS,
  DeploymentCompletedV1,
  DeploymentRolledBackV1,
  DeploymentRollingBackV1,
  DeploymentStageCompletedV1,
  DeploymentStageStartedV1,
  type DeploymentStatus,
  type DeploymentTarget,
} from '@drover/contracts';
import { DomainError } from '@drover/service-kit';
import { outboxEvents } from '../adapters/postgres/outbox';
import { type FirmwareRecord } from '../firmware/firmware.catalog';
import { evaluateHealth, healthRates } from '../domain/rollout-health';
import { cumulativeStageSizes, orderKey, splitEligible } from '../domain/rollout-plan';
import { decideStep, isFinished, nextStatus } from '../domain/rollout-state';
import { applyToDevice } from './device.progress';
import {
  configOf,
  type DeploymentCounts,
  type DeploymentRow,
  type DeviceRow,
  LeaseLostError,
  loadCounts,
  lockDeployment,
  type StageRecord,
  stagesOf,
} from './deployment.store';
import { type RolloutContext } from './rollout.context';
import { deploymentEvent, deviceEvent } from './rollout.events';

/** A running driver. */
export interface Driver {
  /** Wakes the loop now. */
  hint(): void;
  /** Stops after the step in progress. */
  stop(): Promise<void>;
}

const CLAIM_BATCH = 8;
const MAX_WAIT_MS = 60_000;

/** Claims up to `n` due deployments for this replica. */
export async function claimDue(ctx: RolloutContext, n: number): Promise<DeploymentRow[]> {
  const now = ctx.now();
  const leaseUntil = new Date(now.getTime() + ctx.settings.leaseMs);
  const { rows } = await sql<DeploymentRow>`
    update deployments d set lease_owner = ${ctx.owner}, lease_until = ${leaseUntil}
    from (
      select deployment_id from deployments
      where next_evaluation_at <= ${now}
        and (lease_until is null or lease_until < ${now} or lease_owner = ${ctx.owner})
      order by next_evaluation_at
      limit ${n}
      for update skip locked
    ) due
    where d.deployment_id = due.deployment_id
    returning d.*`.execute(ctx.db);
  return rows;
}

function head(dep: DeploymentRow) {
  return {
    tenant: dep.tenant,
    deployment_id: dep.deployment_id,
    firmware_version: dep.firmware_version,
    device_type: dep.device_type,
  };
}

function countsData(counts: DeploymentCounts) {
  return {
    attempted: counts.health.attempted,
    succeeded: counts.health.succeeded,
    failed: counts.health.failed,
    offline: counts.health.offline,
    ...healthRates(counts.health),
  };
}

function timeoutMs(dep: DeploymentRow): number {
  return Math.round(configOf(dep).device_timeout_minutes * 60_000);
}

/** One step of one claimed deployment; returns when it should be looked at again. */
async function step(
  ctx: RolloutContext,
  claimed: DeploymentRow,
  firmwareOf: (dep: DeploymentRow) => Promise<FirmwareRecord>,
): Promise<Date | null> {
  const status = claimed.status as DeploymentStatus;
  if (isFinished(status)) return null;
  const started = performance.now();
  let kind = 'rollback_step';
  try {
    const now = ctx.now();
    await expireDeadlines(ctx, claimed, now);
    if (status === 'rolling_back') return await rollbackStep(ctx, claimed, now);
    const d = await decide(ctx, claimed, status, now);
    kind = d.kind;
    return await act(ctx, claimed, status, d, now, firmwareOf);
  } finally {
    ctx.metrics.steps.observe({ decision: kind }, (performance.now() - started) / 1000);
  }
}

async function decide(
  ctx: RolloutContext,
  claimed: DeploymentRow,
  status: DeploymentStatus,
  now: Date,
) {
  const cfg = configOf(claimed);
  const counts = await loadCounts(ctx.db, claimed.deployment_id);
  const stages = stagesOf(claimed);
  const cur = claimed.current_stage;
  const record = cur >= 0 ? stages[cur] : undefined;
  const sc = counts.stages.get(cur);
  const decision = decideStep({
    status,
    currentStage: cur,
    stageCount: stages.length,
    stage:
      record === undefined
        ? null
        : {
            devices: sc?.devices ?? 0,
            completed: record.completed_at !== null,
            toDispatch: (sc?.pending ?? 0) + (sc?.unsent ?? 0),
            updating: sc?.updating ?? 0,
            soakUntil: record.soak_until === null ? null : new Date(record.soak_until),
          },
    health: evaluateHealth(counts.health, cfg),
    now,
    soakMs: cfg.soak_duration_minutes * 60_000,
  });
  return { ...decision, counts, cur };
}

async function act(
  ctx: RolloutContext,
  claimed: DeploymentRow,
  status: DeploymentStatus,
  decision: Awaited<ReturnType<typeof decide>>,
  now: Date,
  firmwareOf: (dep: DeploymentRow) => Promise<FirmwareRecord>,
): Promise<Date | null> {
  const { counts, cur } = decision;
  switch (decision.kind) {
    case 'rollback':
      await startRollback(ctx, claimed, decision.reason, now);
      return now;
    case 'start_stage':
      await startStage(ctx, claimed, decision.index, firmwareOf, now);
      return now;
    case 'dispatch': {
      const fw = await firmwareOf(claimed);
      await dispatchUpdates(ctx, claimed, fw, now);
      return new Date(now.getTime() + 1000);
    }
    case 'start_soak':
      await patchStage(ctx, claimed, cur, { soak_until: decision.until.toISOString() });
      return decision.until;
    case 'stage_done':
      await completeStage(ctx, claimed, cur, decision.last, counts, now);
      return decision.last ? null : now;
    case 'wait': {
      const deadline = await earliestDeadline(ctx, claimed.deployment_id);
      const candidates = [decision.until, deadline].filter((d): d is Date => d !== null);
      if (status === 'paused' && candidates.length === 0) return null;
      candidates.push(new Date(now.getTime() + MAX_WAIT_MS));
      return new Date(Math.min(...candidates.map((d) => d.getTime())));
    }
  }
}

async function earliestDeadline(ctx: RolloutContext, deploymentId: string): Promise<Date | null> {
  const r = await ctx.db
    .selectFrom('deployment_devices')
    .select((eb) => eb.fn.min('deadline_at').as('at'))
    .where('deployment_id', '=', deploymentId)
    .where((eb) =>
      eb.or([
        eb.and([eb('status', '=', 'updating'), eb('rollback_status', 'is', null)]),
        eb('rollback_status', '=', 'rolling_back'),
      ]),
    )
    .executeTakeFirst();
  const at = r?.at ?? null;
  return at === null ? null : new Date(at);
}

/** Devices whose deadline passed become failed/offline (or rollback_failed). */
async function expireDeadlines(ctx: RolloutContext, dep: DeploymentRow, now: Date): Promise<void> {
  const changed = await ctx.db.transaction().execute(async (trx) => {
    const rows = await trx
      .selectFrom('deployment_devices')
      .selectAll()
      .where('deployment_id', '=', dep.deployment_id)
      .where('deadline_at', '<=', now)
      .where((eb) =>
        eb.or([
          eb.and([eb('status', '=', 'updating'), eb('rollback_status', 'is', null)]),
          eb('rollback_status', '=', 'rolling_back'),
        ]),
      )
      .limit(5000)
      .forUpdate()
      .execute();
    for (const row of rows) {
      await applyToDevice(trx, row, { kind: 'deadline' }, dep.firmware_version, now);
    }
    return rows.length;
  });
  if (changed > 0) ctx.notifyOutbox();
}

async function patchStage(
  ctx: RolloutContext,
  dep: DeploymentRow,
  index: number,
  patch: Partial<StageRecord>,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    const stages = stagesOf(row);
    stages[index] = { ...stages[index]!, ...patch };
    await trx
      .updateTable('deployments')
      .set({ stages: JSON.stringify(stages), updated_at: ctx.now() })
      .where('deployment_id', '=', dep.deployment_id)
      .execute();
  });
}

async function startStage(
  ctx: RolloutContext,
  dep: DeploymentRow,
  index: number,
  firmwareOf: (dep: DeploymentRow) => Promise<FirmwareRecord>,
  now: Date,
): Promise<void> {
  const cfg = configOf(dep);
  const target = dep.target as DeploymentTarget;
  // Devices that joined the target since the last stage are taken in this one.
  let joiners: { deviceId: string; hardwareModel: string | null; version: string | null }[] = [];
  if (index > 0 && target.device_ids === undefined) {
    try {
      const fw = await firmwareOf(dep);
      const candidates = await ctx.directory.resolve(dep.tenant, dep.device_type, target);
      joiners = splitEligible(
        candidates,
        { deviceType: dep.device_type, version: fw.version, hardwareModels: fw.hardware_models },
        cfg.allow_downgrade,
      ).eligible.map((d) => ({
        deviceId: d.deviceId,
        hardwareModel: d.hardwareModel,
        version: d.firmwareVersion,
      }));
    } catch (err) {
      ctx.logger.warn(
        { err, deployment_id: dep.deployment_id },
        'target not re-read; this stage takes no joiners',
      );
    }
  }
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    if (row.current_stage >= index) return;
    for (let i = 0; i < joiners.length; i += 1000) {
      await trx
        .insertInto('deployment_devices')
        .values(
          joiners.slice(i, i + 1000).map((d) => ({
            deployment_id: dep.deployment_id,
            device_id: d.deviceId,
            tenant: dep.tenant,
            order_key: orderKey(dep.deployment_id, d.deviceId),
            joined: true,
            status: 'pending',
            hardware_model: d.hardwareModel,
            previous_version: d.version,
            running_version: d.version,
            updated_at: now,
          })),
        )
        .onConflict((oc) => oc.columns(['deployment_id', 'device_id']).doNothing())
        .execute();
    }
    const agg = await trx
      .selectFrom('deployment_devices')
      .select((eb) => [
        eb.fn.countAll<string>().as('total'),
        eb.fn.count<string>('stage').as('taken'),
        sql<string>`count(*) filter (where stage is null and joined)`.as('joined'),
      ])
      .where('deployment_id', '=', dep.deployment_id)
      .executeTakeFirstOrThrow();
    const total = Number(agg.total);
    const taken = Number(agg.taken);
    const stages = stagesOf(row);
    const last = index === stages.length - 1;
    const sizes = cumulativeStageSizes(total, cfg.stages, cfg.min_devices_per_stage);
    const need = last ? total - taken : Math.max(sizes[index]! - taken, Number(agg.joined));
    const assigned = await trx
      .updateTable('deployment_devices')
      .set({ stage: index, updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .where('device_id', 'in', (eb) =>
        eb
          .selectFrom('deployment_devices')
          .select('device_id')
          .where('deployment_id', '=', dep.deployment_id)
          .where('stage', 'is', null)
          .where('status', '=', 'pending')
          .orderBy('joined', 'desc')
          .orderBy('order_key')
          .limit(Math.max(0, need)),
      )
      .executeTakeFirst();
    const devices = Number(assigned.numUpdatedRows);
    stages[index] = { ...stages[index]!, devices, started_at: now.toISOString() };
    const status = (nextStatus(row.status as DeploymentStatus, 'start') ?? row.status) as string;
    await trx
      .updateTable('deployments')
      .set({
        current_stage: index,
        stages: JSON.stringify(stages),
        status,
        updated_at: now,
      })
      .where('deployment_id', '=', dep.deployment_id)
      .execute();
    await outboxEvents(trx, [
      deploymentEvent(DeploymentStageStartedV1, head(dep), {
        status: status as 'running',
        at: now.toISOString(),
        stage: index,
        percent: stages[index]!.percent,
        devices,
        total_devices: total,
      }),
    ]);
  });
  ctx.notifyOutbox();
  ctx.logger.info(
    { event: 'deployment.stage_started', deployment_id: dep.deployment_id, stage: index },
    'stage started',
  );
}

async function completeStage(
  ctx: RolloutContext,
  dep: DeploymentRow,
  index: number,
  last: boolean,
  counts: DeploymentCounts,
  now: Date,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    const stages = stagesOf(row);
    if (row.current_stage !== index || stages[index]!.completed_at !== null) return;
    stages[index] = { ...stages[index]!, completed_at: now.toISOString() };
    const status = last ? 'completed' : row.status;
    await trx
      .updateTable('deployments')
      .set({
        stages: JSON.stringify(stages),
        status,
        updated_at: now,
        ...(last && { finished_at: now }),
      })
      .where('deployment_id', '=', dep.deployment_id)
      .execute();
    const sc = counts.stages.get(index);
    const events = [
      deploymentEvent(DeploymentStageCompletedV1, head(dep), {
        status: row.status as 'running',
        at: now.toISOString(),
        stage: index,
        percent: stages[index]!.percent,
        devices: sc?.devices ?? 0,
        ...countsData(counts),
      }),
    ];
    if (last) {
      events.push(
        deploymentEvent(DeploymentCompletedV1, head(dep), {
          status: 'completed',
          at: now.toISOString(),
          total_devices: counts.total,
          ...countsData(counts),
        }),
      );
    }
    await outboxEvents(trx, events);
  });
  ctx.notifyOutbox();
}

async function startRollback(
  ctx: RolloutContext,
  dep: DeploymentRow,
  reason: 'error_rate' | 'offline_rate',
  now: Date,
): Promise<void> {
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    const next = nextStatus(row.status as DeploymentStatus, 'gate_failed');
    if (next === null) return;
    await trx
      .updateTable('deployment_devices')
      .set({ status: 'skipped', updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .where('status', '=', 'pending')
      .execute();
    await trx
      .updateTable('deployments')
      .set({ status: next, reason, updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .execute();
    const counts = await loadCounts(trx, dep.deployment_id);
    await outboxEvents(trx, [
      deploymentEvent(DeploymentRollingBackV1, head(dep), {
        status: 'rolling_back',
        at: now.toISOString(),
        ...(row.current_stage >= 0 && { stage: row.current_stage }),
        reason,
        ...countsData(counts),
      }),
    ]);
  });
  ctx.notifyOutbox();
  ctx.logger.warn(
    { event: 'deployment.rolling_back', deployment_id: dep.deployment_id, reason },
    'health gate failed: rolling back',
  );
}

function rateOf(ctx: RolloutContext, dep: DeploymentRow): number {
  return configOf(dep).rate_per_s ?? ctx.settings.ratePerS;
}

/** Marks the next batch of the stage `updating`, then sends what is marked and unsent. */
async function dispatchUpdates(
  ctx: RolloutContext,
  dep: DeploymentRow,
  fw: FirmwareRecord,
  now: Date,
): Promise<void> {
  const rate = rateOf(ctx, dep);
  const deadline = new Date(now.getTime() + timeoutMs(dep));
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    if (row.status !== 'running') return;
    const marked = await trx
      .updateTable('deployment_devices')
      .set({ status: 'updating', dispatched_at: now, deadline_at: deadline, updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .where('device_id', 'in', (eb) =>
        eb
          .selectFrom('deployment_devices')
          .select('device_id')
          .where('deployment_id', '=', dep.deployment_id)
          .where('stage', '=', row.current_stage)
          .where('status', '=', 'pending')
          .orderBy('order_key')
          .limit(rate),
      )
      .returning(['device_id', 'stage', 'previous_version'])
      .execute();
    await outboxEvents(
      trx,
      marked.map((m) =>
        deviceEvent(dep.tenant, {
          deployment_id: dep.deployment_id,
          device_id: m.device_id,
          stage: m.stage ?? 0,
          status: 'updating',
          firmware_version: dep.firmware_version,
          ...(m.previous_version !== null && { previous_version: m.previous_version }),
          at: now.toISOString(),
        }),
      ),
    );
  });
  ctx.notifyOutbox();
  const unsent = await ctx.db
    .selectFrom('deployment_devices')
    .selectAll()
    .where('deployment_id', '=', dep.deployment_id)
    .where('status', '=', 'updating')
    .where('rollback_status', 'is', null)
    .where('update_command_id', 'is', null)
    .orderBy('order_key')
    .limit(rate * 2)
    .execute();
  await sendCommands(ctx, dep, unsent, 'update', fw);
}

const COMMAND_NAMES = { update: 'firmware.update', rollback: 'firmware.rollback' } as const;
/** Commands per create_commands call (the gateway's maximum). */
const BATCH = COMMAND_LIMITS.batch.max;
/** create_commands calls of one dispatch in flight at once. */
const BATCHES_IN_FLIGHT = 4;

/** Creates one command per row (in batches, or bounded single calls) and records the ids. */
async function sendCommands(
  ctx: RolloutContext,
  dep: DeploymentRow,
  rows: DeviceRow[],
  kind: 'update' | 'rollback',
  fw: FirmwareRecord | null,
): Promise<void> {
  if (rows.length === 0) return;
  const timeoutS = Math.min(
    COMMAND_LIMITS.timeoutS.max,
    Math.max(COMMAND_LIMITS.timeoutS.min, Math.ceil(timeoutMs(dep) / 1000)),
  );
  const sent: { deviceId: string; commandId: string }[] = [];
  const refused: { deviceId: string; error: string }[] = [];
  const request = async (row: DeviceRow) => {
    const params =
      kind === 'update'
        ? {
            deployment_id: dep.deployment_id,
            firmware_version: dep.firmware_version,
            url: await ctx.catalog.downloadUrl(fw!, row.device_id, ctx.settings.downloadTtlS),
            sha256: fw!.sha256,
            size: fw!.size,
            signature: fw!.signature,
            signature_alg: fw!.signature_alg,
          }
        : { deployment_id: dep.deployment_id, firmware_version: row.previous_version! };
    return {
      device_id: row.device_id,
      name: COMMAND_NAMES[kind],
      params,
      timeout_s: timeoutS,
      expires_in_s: timeoutS,
      // A rollback sent again (the device rejected it while busy) needs a key of its own.
      idempotency_key:
        kind === 'rollback' && row.rollback_attempts > 0
          ? `${dep.deployment_id}:${row.device_id}:rollback:${row.rollback_attempts + 1}`
          : `${dep.deployment_id}:${row.device_id}:${kind}`,
    };
  };
  const failed = (row: DeviceRow, err: unknown) => {
    if (err instanceof DomainError && err.status < 500) {
      refused.push({ deviceId: row.device_id, error: `${err.code}: ${err.detail}` });
      ctx.metrics.commands.inc({ kind, outcome: 'refused' });
    } else {
      ctx.metrics.commands.inc({ kind, outcome: 'retry' });
      // Transient: the row stays unsent and the next step tries again with the same key.
      ctx.logger.warn(
        { err, deployment_id: dep.deployment_id, device_id: row.device_id },
        `${kind} not sent yet`,
      );
    }
  };
  const sendOne = async (row: DeviceRow) => {
    try {
      const commandId = await ctx.commands.send({ tenant: dep.tenant, ...(await request(row)) });
      sent.push({ deviceId: row.device_id, commandId });
      ctx.metrics.commands.inc({ kind, outcome: 'sent' });
    } catch (err) {
      failed(row, err);
    }
  };
  const sendBatch = async (batch: DeviceRow[]) => {
    const sendMany = ctx.commands.sendMany!.bind(ctx.commands);
    let outcomes: Awaited<ReturnType<typeof sendMany>>;
    try {
      const items = await Promise.all(batch.map(request));
      // The deployment resolved these devices in the registry (type, not decommissioned).
      outcomes = await sendMany(
        dep.tenant,
        items.map((item) => ({ ...item, device_type: dep.device_type })),
      );
    } catch (err) {
      if (err instanceof DomainError && err.status < 500) {
        // The batch as a whole refused (e.g. a gateway without create_commands): one by one.
        ctx.logger.warn({ err, deployment_id: dep.deployment_id }, 'batch refused; sending singly');
        for (const row of batch) await sendOne(row);
      } else {
        for (const row of batch) failed(row, err);
      }
      return;
    }
    batch.forEach((row, i) => {
      const o = outcomes[i]!;
      if ('commandId' in o) {
        sent.push({ deviceId: row.device_id, commandId: o.commandId });
        ctx.metrics.commands.inc({ kind, outcome: 'sent' });
      } else if (o.error.status < 500) {
        refused.push({ deviceId: row.device_id, error: `${o.error.code}: ${o.error.detail}` });
        ctx.metrics.commands.inc({ kind, outcome: 'refused' });
      } else {
        failed(row, new Error(`${o.error.code}: ${o.error.detail}`));
      }
    });
  };
  // Batches of BATCH (a few in flight) when the sender can; else bounded single calls.
  const units: DeviceRow[][] = [];
  const size = ctx.commands.sendMany !== undefined ? BATCH : 1;
  for (let i = 0; i < rows.length; i += size) units.push(rows.slice(i, i + size));
  const parallel =
    size > 1 ? BATCHES_IN_FLIGHT : Math.min(ctx.settings.dispatchConcurrency, rows.length);
  let next = 0;
  const worker = async () => {
    while (next < units.length) {
      const unit = units[next++]!;
      if (size > 1) await sendBatch(unit);
      else await sendOne(unit[0]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, units.length) }, worker));
  const now = ctx.now();
  const column = kind === 'update' ? 'update_command_id' : 'rollback_command_id';
  await ctx.db.transaction().execute(async (trx) => {
    if (sent.length > 0) {
      await sql`
        update deployment_devices d set ${sql.ref(column)} = v.command_id, updated_at = ${now}
        from unnest(${sent.map((s) => s.deviceId)}::text[], ${sent.map((s) => s.commandId)}::text[])
          as v(device_id, command_id)
        where d.deployment_id = ${dep.deployment_id} and d.device_id = v.device_id`.execute(trx);
    }
    // A refused command is this device's failure now, not at its deadline.
    for (const r of refused) {
      const done =
        kind === 'update'
          ? await trx
              .updateTable('deployment_devices')
              .set({ status: 'failed', error: r.error, finished_at: now, updated_at: now })
              .where('deployment_id', '=', dep.deployment_id)
              .where('device_id', '=', r.deviceId)
              .where('status', '=', 'updating')
              .where('rollback_status', 'is', null)
              .returning(['device_id', 'stage', 'previous_version'])
              .execute()
          : await trx
              .updateTable('deployment_devices')
              .set({
                rollback_status: 'rollback_failed',
                error: r.error,
                finished_at: now,
                updated_at: now,
              })
              .where('deployment_id', '=', dep.deployment_id)
              .where('device_id', '=', r.deviceId)
              .where('rollback_status', '=', 'rolling_back')
              .returning(['device_id', 'stage', 'previous_version'])
              .execute();
      await outboxEvents(
        trx,
        done.map((m) =>
          deviceEvent(dep.tenant, {
            deployment_id: dep.deployment_id,
            device_id: m.device_id,
            stage: m.stage ?? 0,
            status: kind === 'update' ? 'failed' : 'rollback_failed',
            firmware_version: dep.firmware_version,
            ...(m.previous_version !== null && { previous_version: m.previous_version }),
            at: now.toISOString(),
            error: r.error.slice(0, 4096),
          }),
        ),
      );
    }
  });
  ctx.notifyOutbox();
}

/** One step of a rolling-back deployment. */
async function rollbackStep(
  ctx: RolloutContext,
  dep: DeploymentRow,
  now: Date,
): Promise<Date | null> {
  const rate = rateOf(ctx, dep);
  const deadline = new Date(now.getTime() + timeoutMs(dep));
  const received = ['updating', 'succeeded', 'failed', 'offline'];
  await ctx.db.transaction().execute(async (trx) => {
    await lockDeployment(trx, dep.deployment_id, ctx.owner);
    // Nothing to return to: the rollback of that device cannot be sent.
    const unknown = await trx
      .updateTable('deployment_devices')
      .set({
        rollback_status: 'rollback_failed',
        error: 'previous version unknown',
        finished_at: now,
        updated_at: now,
      })
      .where('deployment_id', '=', dep.deployment_id)
      .where('rollback_status', 'is', null)
      .where('status', 'in', received)
      .where('previous_version', 'is', null)
      .returning(['device_id', 'stage'])
      .execute();
    const marked = await trx
      .updateTable('deployment_devices')
      .set({ rollback_status: 'rolling_back', deadline_at: deadline, updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .where('device_id', 'in', (eb) =>
        eb
          .selectFrom('deployment_devices')
          .select('device_id')
          .where('deployment_id', '=', dep.deployment_id)
          .where('rollback_status', 'is', null)
          .where('status', 'in', received)
          .orderBy('order_key')
          .limit(rate),
      )
      .returning(['device_id', 'stage', 'previous_version'])
      .execute();
    await outboxEvents(trx, [
      ...unknown.map((m) =>
        deviceEvent(dep.tenant, {
          deployment_id: dep.deployment_id,
          device_id: m.device_id,
          stage: m.stage ?? 0,
          status: 'rollback_failed',
          firmware_version: dep.firmware_version,
          at: now.toISOString(),
          error: 'previous version unknown',
        }),
      ),
      ...marked.map((m) =>
        deviceEvent(dep.tenant, {
          deployment_id: dep.deployment_id,
          device_id: m.device_id,
          stage: m.stage ?? 0,
          status: 'rolling_back',
          firmware_version: dep.firmware_version,
          ...(m.previous_version !== null && { previous_version: m.previous_version }),
          at: now.toISOString(),
        }),
      ),
    ]);
  });
  ctx.notifyOutbox();
  const unsent = await ctx.db
    .selectFrom('deployment_devices')
    .selectAll()
    .where('deployment_id', '=', dep.deployment_id)
    .where('rollback_status', '=', 'rolling_back')
    .where('rollback_command_id', 'is', null)
    .orderBy('order_key')
    .limit(rate * 2)
    .execute();
  await sendCommands(ctx, dep, unsent, 'rollback', null);

  const left = await ctx.db
    .selectFrom('deployment_devices')
    .select([
      sql<string>`count(*) filter (where rollback_status is null and status in ('updating','succeeded','failed','offline'))`.as(
        'to_send',
      ),
      sql<string>`count(*) filter (where rollback_status = 'rolling_back')`.as('rolling'),
      sql<string>`count(*) filter (where rollback_status = 'rolling_back' and rollback_command_id is null)`.as(
        'unsent',
      ),
    ])
    .where('deployment_id', '=', dep.deployment_id)
    .executeTakeFirstOrThrow();
  if (Number(left.to_send) > 0 || Number(left.unsent) > 0) return new Date(now.getTime() + 1000);
  if (Number(left.rolling) > 0) {
    const at = await earliestDeadline(ctx, dep.deployment_id);
    return at ?? new Date(now.getTime() + MAX_WAIT_MS);
  }
  await ctx.db.transaction().execute(async (trx) => {
    const row = (await lockDeployment(trx, dep.deployment_id, ctx.owner))!;
    const next = nextStatus(row.status as DeploymentStatus, 'rollback_done');
    if (next === null) return;
    await trx
      .updateTable('deployments')
      .set({ status: next, finished_at: now, updated_at: now })
      .where('deployment_id', '=', dep.deployment_id)
      .execute();
    const counts = await loadCounts(trx, dep.deployment_id);
    await outboxEvents(trx, [
      deploymentEvent(DeploymentRolledBackV1, head(dep), {
        status: 'rolled_back',
        at: now.toISOString(),
        ...(row.reason !== null && { reason: row.reason as 'manual' }),
        attempted: counts.health.attempted,
        failed: counts.health.failed,
      }),
    ]);
  });
  ctx.notifyOutbox();
  ctx.logger.info(
    { event: 'deployment.rolled_back', deployment_id: dep.deployment_id },
    'rolled back',
  );
  return null;
}

/** Releases the lease and writes the next timer (now, when a device changed meanwhile). */
async function release(ctx: RolloutContext, dep: DeploymentRow, next: Date | null): Promise<void> {
  const now = ctx.now();
  await sql`
    update deployments set
      lease_owner = null, lease_until = null,
      next_evaluation_at = case
        when status in ('completed', 'rolled_back', 'aborted') then null
        when revision = ${dep.revision} then ${next}::timestamptz
        else ${now}::timestamptz end
    where deployment_id = ${dep.deployment_id} and lease_owner = ${ctx.owner}`.execute(ctx.db);
}

/** Starts the loop: claim, step, sleep until the earliest timer (at most tickMs) or a hint. */
export function startDriver(ctx: RolloutContext): Driver {
  let stopped = false;
  let hinted = false;
  let wake: (() => void) | null = null;
  const firmware = new Map<string, FirmwareRecord>();
  const firmwareOf = async (dep: DeploymentRow): Promise<FirmwareRecord> => {
    const cached = firmware.get(dep.firmware_id);
    if (cached !== undefined) return cached;
    const fw = await ctx.catalog.get(dep.tenant, dep.firmware_id);
    if (fw === null) throw new Error(`firmware ${dep.firmware_id} of ${dep.deployment_id} is gone`);
    firmware.set(dep.firmware_id, fw);
    return fw;
  };
  const drive = async (dep: DeploymentRow) => {
    let next: Date | null;
    try {
      next = await step(ctx, dep, firmwareOf);
    } catch (err) {
      if (err instanceof LeaseLostError) return;
      ctx.logger.error({ err, deployment_id: dep.deployment_id }, 'rollout step failed');
      next = new Date(ctx.now().getTime() + ctx.settings.tickMs);
    }
    await release(ctx, dep, next);
  };
  const sleep = async () => {
    const r = await ctx.db
      .selectFrom('deployments')
      .select((eb) => eb.fn.min('next_evaluation_at').as('at'))
      .executeTakeFirst();
    const at = r?.at ?? null;
    // At least a short pause: a due deployment may be leased by another replica.
    const ms =
      at === null
        ? ctx.settings.tickMs
        : Math.min(ctx.settings.tickMs, Math.max(50, new Date(at).getTime() - Date.now()));
    if (hinted || stopped) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
    wake = null;
  };
  const loop = async () => {
    while (!stopped) {
      hinted = false;
      let claimed = 0;
      try {
        const rows = await claimDue(ctx, CLAIM_BATCH);
        claimed = rows.length;
        await Promise.all(rows.map(drive));
      } catch (err) {
        ctx.logger.error({ err }, 'rollout driver iteration failed');
      }
      if (stopped) break;
      if (claimed === 0) {
        try {
          await sleep();
        } catch (err) {
          ctx.logger.error({ err }, 'rollout driver sleep failed');
          await new Promise((r) => setTimeout(r, ctx.settings.tickMs));
        }
      }
    }
  };
  const running = loop();
  return {
    hint: () => {
      hinted = true;
      wake?.();
    },
    stop: async () => {
      stopped = true;
      wake?.();
      await running;
    },
  };
}
