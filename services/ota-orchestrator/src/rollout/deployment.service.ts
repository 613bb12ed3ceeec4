// The deployment use cases behind the RPC: create (firmware re-verified, target resolved and
// planned, before any device is told anything), read, list, and operator control.
import { sql } from 'kysely';
import { ulid } from 'ulid';
import {
  type CreateDeploymentRequest,
  type Deployment,
  DeploymentAbortedV1,
  DeploymentCreatedV1,
  type DeploymentDeviceList,
  type DeploymentList,
  DeploymentPausedV1,
  DeploymentResumedV1,
  DeploymentRollingBackV1,
  type DeploymentStatus,
  type ListDeploymentDevicesRequest,
  type ListDeploymentsRequest,
} from '@drover/contracts';
import { ConflictError, NotFoundError, ValidationError } from '@drover/service-kit';
import { outboxEvents } from '../adapters/postgres/outbox';
import { type Executor } from '../adapters/postgres/schema';
import { healthRates } from '../domain/rollout-health';
import {
  type CandidateDevice,
  type Eligibility,
  type Ineligibility,
  orderKey,
  type PlannedFirmware,
  refusal,
  resolveRolloutConfig,
  splitEligible,
} from '../domain/rollout-plan';
import { nextStatus, type RolloutAction } from '../domain/rollout-state';
import {
  type DeploymentRow,
  loadCounts,
  lockDeployment,
  type StageRecord,
  type StoredConfig,
} from './deployment.store';
import { toDeployment, toDeploymentDevice } from './deployment.mapper';
import { type RolloutContext } from './rollout.context';
import { deploymentEvent } from './rollout.events';

const INSERT_CHUNK = 10_000;

function notFound(id: string): NotFoundError {
  return new NotFoundError('deployment_not_found', `no deployment ${id}`);
}

async function view(db: Executor, row: DeploymentRow): Promise<Deployment> {
  return toDeployment(row, await loadCounts(db, row.deployment_id));
}

/** get_deployment. */
export async function getDeployment(
  ctx: RolloutContext,
  tenant: string,
  deploymentId: string,
): Promise<Deployment> {
  const row = await ctx.db
    .selectFrom('deployments')
    .selectAll()
    .where('tenant', '=', tenant)
    .where('deployment_id', '=', deploymentId)
    .executeTakeFirst();
  if (row === undefined) throw notFound(deploymentId);
  return view(ctx.db, row);
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

/** What create_deployment and rehearse_deployment both ask for. */
export type DeploymentPlanRequest = Pick<
  CreateDeploymentRequest,
  'tenant' | 'device_type' | 'version' | 'target' | 'rollout_config' | 'allow_downgrade'
>;

// The checks before the target is read: one target, the rollout config, the firmware found
// and every registry check run again.
async function checkRequest(ctx: RolloutContext, req: DeploymentPlanRequest) {
  const given = ['device_ids', 'group', 'filter'].filter(
    (k) => req.target[k as keyof typeof req.target] !== undefined,
  );
  if (given.length !== 1) {
    throw new ValidationError(
      'deployment_bad_target',
      'target needs exactly one of device_ids, group or filter',
    );
  }
  const rollout = resolveRolloutConfig(req.rollout_config);
  const allowDowngrade = req.allow_downgrade ?? false;

  const firmware = await ctx.catalog.findByVersion(req.tenant, req.device_type, req.version);
  if (firmware === null) {
    throw new NotFoundError(
      'firmware_not_found',
      `no firmware ${req.version} registered for device type ${req.device_type}`,
    );
  }
  await ctx.catalog.reverify(firmware);
  const planned: PlannedFirmware = {
    deviceType: req.device_type,
    version: firmware.version,
    hardwareModels: firmware.hardware_models,
  };
  return { rollout, allowDowngrade, firmware, planned };
}

function refuse(split: Eligibility, req: DeploymentPlanRequest): void {
  const refused = refusal(split, req.target.device_ids !== undefined);
  if (refused !== null) throw new ValidationError(refused.code, refused.detail);
}

/**
 * The checks a deployment passes before any device is told anything (shared with the
 * rehearsal, so a rehearsal refuses exactly what a deployment would): one target, the rollout
 * config, the firmware found and every registry check run again, the target resolved and split
 * into eligible and excluded devices. (create_deployment runs the same checks, the target's
 * pages split and stored as they come, and refuses before it commits.)
 */
export async function checkDeploymentPlan(ctx: RolloutContext, req: DeploymentPlanRequest) {
  const { rollout, allowDowngrade, firmware, planned } = await checkRequest(ctx, req);
  const candidates = await ctx.directory.resolve(req.tenant, req.device_type, req.target);
  const split = splitEligible(candidates, planned, allowDowngrade);
  refuse(split, req);
  return { rollout, allowDowngrade, firmware, split };
}

// Inserts a page of eligible devices: column arrays unnested server-side (a few parameters per
// chunk instead of nine a row).
async function insertDevices(
  trx: Executor,
  deploymentId: string,
  tenant: string,
  devices: readonly CandidateDevice[],
  now: Date,
): Promise<void> {
  for (let i = 0; i < devices.length; i += INSERT_CHUNK) {
    const chunk = devices.slice(i, i + INSERT_CHUNK);
    await sql`
      insert into deployment_devices (
        deployment_id, device_id, tenant, order_key, status, hardware_model,
        previous_version, running_version, updated_at
      )
      select ${deploymentId}, d.device_id, ${tenant}, d.order_key, 'pending', d.hardware_model,
        d.firmware_version, d.firmware_version, ${now}::timestamptz
      from unnest(
        ${chunk.map((d) => d.deviceId)}::text[],
        ${chunk.map((d) => orderKey(deploymentId, d.deviceId))}::text[],
        ${chunk.map((d) => d.hardwareModel)}::text[],
        ${chunk.map((d) => d.firmwareVersion)}::text[]
      ) as d(device_id, order_key, hardware_model, firmware_version)
    `.execute(trx);
  }
}

/** create_deployment. */
export async function createDeployment(
  ctx: RolloutContext,
  req: CreateDeploymentRequest,
): Promise<Deployment> {
  const { tenant } = req;
  const byKey = async () =>
    req.idempotency_key === undefined
      ? undefined
      : ctx.db
          .selectFrom('deployments')
          .selectAll()
          .where('tenant', '=', tenant)
          .where('idempotency_key', '=', req.idempotency_key)
          .executeTakeFirst();
  const earlier = await byKey();
  if (earlier !== undefined) return view(ctx.db, earlier);

  const t0 = performance.now();
  const { rollout, allowDowngrade, firmware, planned } = await checkRequest(ctx, req);
  const tChecked = performance.now();
  const split: Eligibility = { eligible: [], excluded: {} };

  const now = ctx.now();
  const deploymentId = ulid();
  const config: StoredConfig = { ...rollout, allow_downgrade: allowDowngrade };
  const stages: StageRecord[] = rollout.stages.map((percent, index) => ({
    index,
    percent,
    devices: 0,
    started_at: null,
    soak_until: null,
    completed_at: null,
  }));
  try {
    await ctx.db.transaction().execute(async (trx) => {
      await trx
        .insertInto('deployments')
        .values({
          deployment_id: deploymentId,
          tenant,
          firmware_id: firmware.firmware_id,
          firmware_version: firmware.version,
          device_type: req.device_type,
          target: JSON.stringify(req.target),
          config: JSON.stringify(config),
          status: 'pending',
          reason: null,
          current_stage: -1,
          stages: JSON.stringify(stages),
          next_evaluation_at: now,
          revision: 0,
          created_by: req.created_by ?? null,
          idempotency_key: req.idempotency_key ?? null,
          created_at: now,
          updated_at: now,
        })
        .execute();
      // The target page by page: each page split and its eligible devices stored while the
      // registry reads the next; refused (rolled back) once the whole target is known.
      for await (const page of ctx.directory.resolvePages(tenant, req.device_type, req.target)) {
        const part = splitEligible(page, planned, allowDowngrade);
        for (const d of part.eligible) split.eligible.push(d);
        for (const [why, ids] of Object.entries(part.excluded) as [Ineligibility, string[]][]) {
          const into = (split.excluded[why] ??= []);
          for (const id of ids) into.push(id);
        }
        await insertDevices(trx, deploymentId, tenant, part.eligible, now);
      }
      refuse(split, req);
      await outboxEvents(trx, [
        deploymentEvent(
          DeploymentCreatedV1,
          {
            tenant,
            deployment_id: deploymentId,
            ...firmwareHead(firmware.version, req.device_type),
          },
          { status: 'pending', at: now.toISOString(), total_devices: split.eligible.length },
        ),
      ]);
    });
  } catch (err) {
    if (isUniqueViolation(err)) {
      const winner = await byKey();
      if (winner !== undefined) return view(ctx.db, winner);
    }
    throw err;
  }
  const tStored = performance.now();
  ctx.notifyOutbox();
  ctx.hint();
  ctx.logger.info(
    {
      event: 'deployment.created',
      deployment_id: deploymentId,
      devices: split.eligible.length,
      check_ms: Math.round(tChecked - t0),
      plan_ms: Math.round(tStored - tChecked),
    },
    'deployment created',
  );
  return getDeployment(ctx, tenant, deploymentId);
}

function firmwareHead(version: string, deviceType: string) {
  return { firmware_version: version, device_type: deviceType };
}

/** list_deployments (newest first). */
export async function listDeployments(
  ctx: RolloutContext,
  req: ListDeploymentsRequest,
): Promise<DeploymentList> {
  const limit = req.limit ?? 50;
  let q = ctx.db
    .selectFrom('deployments')
    .selectAll()
    .where('tenant', '=', req.tenant)
    .orderBy('deployment_id', 'desc')
    .limit(limit + 1);
  if (req.status !== undefined) q = q.where('status', '=', req.status);
  if (req.cursor !== undefined) q = q.where('deployment_id', '<', req.cursor);
  const rows = await q.execute();
  const page = rows.slice(0, limit);
  return {
    items: await Promise.all(page.map((r) => view(ctx.db, r))),
    next_cursor: rows.length > limit ? page[page.length - 1]!.deployment_id : null,
  };
}

/** list_deployment_devices (rollout order). */
export async function listDeploymentDevices(
  ctx: RolloutContext,
  req: ListDeploymentDevicesRequest,
): Promise<DeploymentDeviceList> {
  await getDeploymentRow(ctx, req.tenant, req.deployment_id);
  const limit = req.limit ?? 50;
  let q = ctx.db
    .selectFrom('deployment_devices')
    .selectAll()
    .where('deployment_id', '=', req.deployment_id)
    .orderBy('order_key')
    .limit(limit + 1);
  if (req.stage !== undefined) q = q.where('stage', '=', req.stage);
  if (req.status !== undefined) {
    const s = req.status;
    q =
      s === 'rolling_back' || s === 'rolled_back' || s === 'rollback_failed'
        ? q.where('rollback_status', '=', s)
        : q.where('status', '=', s).where('rollback_status', 'is', null);
  }
  if (req.cursor !== undefined) q = q.where('order_key', '>', req.cursor);
  const rows = await q.execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map(toDeploymentDevice),
    next_cursor: rows.length > limit ? page[page.length - 1]!.order_key : null,
  };
}

async function getDeploymentRow(ctx: RolloutContext, tenant: string, id: string) {
  const row = await ctx.db
    .selectFrom('deployments')
    .select('deployment_id')
    .where('tenant', '=', tenant)
    .where('deployment_id', '=', id)
    .executeTakeFirst();
  if (row === undefined) throw notFound(id);
}

/** An operator control operation. */
export type ControlAction = Extract<RolloutAction, 'pause' | 'resume' | 'abort' | 'rollback'>;

const CONTROL_EVENTS = {
  pause: DeploymentPausedV1,
  resume: DeploymentResumedV1,
  abort: DeploymentAbortedV1,
  rollback: DeploymentRollingBackV1,
} as const;

/** pause / resume / abort / rollback. */
export async function controlDeployment(
  ctx: RolloutContext,
  tenant: string,
  deploymentId: string,
  action: ControlAction,
  detail?: string,
): Promise<Deployment> {
  const now = ctx.now();
  await ctx.db.transaction().execute(async (trx) => {
    const row = await lockDeployment(trx, deploymentId);
    if (row === undefined || row.tenant !== tenant) throw notFound(deploymentId);
    const status = row.status as DeploymentStatus;
    const next = nextStatus(status, action);
    if (next === null) {
      throw new ConflictError(
        'deployment_invalid_transition',
        `cannot ${action} a ${status} deployment`,
      );
    }
    const reason = action === 'abort' ? 'aborted' : action === 'rollback' ? 'manual' : row.reason;
    const stopping = action === 'abort' || action === 'rollback';
    if (stopping) {
      await trx
        .updateTable('deployment_devices')
        .set({ status: 'skipped', updated_at: now })
        .where('deployment_id', '=', deploymentId)
        .where('status', '=', 'pending')
        .execute();
    }
    await trx
      .updateTable('deployments')
      .set({
        status: next,
        reason,
        revision: sql`revision + 1`,
        next_evaluation_at: action === 'abort' ? null : now,
        finished_at: action === 'abort' ? now : null,
        updated_at: now,
      })
      .where('deployment_id', '=', deploymentId)
      .execute();
    const counts = await loadCounts(trx, deploymentId);
    const rates = healthRates(counts.health);
    await outboxEvents(trx, [
      deploymentEvent(
        CONTROL_EVENTS[action],
        {
          tenant,
          deployment_id: deploymentId,
          ...firmwareHead(row.firmware_version, row.device_type),
        },
        {
          status: next,
          at: now.toISOString(),
          ...(row.current_stage >= 0 && { stage: row.current_stage }),
          ...(stopping && {
            reason: reason as 'manual',
            attempted: counts.health.attempted,
            succeeded: counts.health.succeeded,
            failed: counts.health.failed,
            offline: counts.health.offline,
            ...rates,
          }),
          ...(detail !== undefined && { detail }),
        },
      ),
    ]);
  });
  ctx.notifyOutbox();
  ctx.hint();
  return getDeployment(ctx, tenant, deploymentId);
}
