// Queries of the rollout tables shared by the service, the driver and the traffic consumers.
import { type Selectable, sql, type Transaction } from 'kysely';
import { type RolloutConfig } from '@drover/contracts';
import { ConflictError } from '@drover/service-kit';
import {
  type DeploymentDeviceTable,
  type DeploymentTable,
} from '../adapters/postgres/deployment.table';
import { type DB, type Executor } from '../adapters/postgres/schema';
import { type DeviceProgress } from '../domain/rollout-device';
import { type HealthCounts } from '../domain/rollout-health';

/** A deployment row. */
export type DeploymentRow = Selectable<DeploymentTable>;
/** A deployment device row. */
export type DeviceRow = Selectable<DeploymentDeviceTable>;

/** What `config` holds. */
export interface StoredConfig extends RolloutConfig {
  /** Devices on a newer version may take this one. */
  allow_downgrade: boolean;
}

/** One stage as stored in `stages`. */
export interface StageRecord {
  index: number;
  percent: number;
  devices: number;
  started_at: string | null;
  soak_until: string | null;
  completed_at: string | null;
}

/** Parsed jsonb columns. */
export function configOf(row: DeploymentRow): StoredConfig {
  return row.config as StoredConfig;
}
/** Parsed jsonb columns. */
export function stagesOf(row: DeploymentRow): StageRecord[] {
  return row.stages as StageRecord[];
}

/** Counts of one stage (stage null = not yet taken). */
export interface StageCounts {
  devices: number;
  pending: number;
  /** Marked updating, the command not yet created (a crash in between: sent again). */
  unsent: number;
  updating: number;
  succeeded: number;
  failed: number;
  offline: number;
}

/** Counts of a deployment. */
export interface DeploymentCounts {
  /** Rows (eligible devices so far). */
  total: number;
  /** Devices taken and told (or being told) to update, and their outcomes. */
  health: HealthCounts;
  /** Per stage index. */
  stages: Map<number, StageCounts>;
  /** Rolled back. */
  rolledBack: number;
  /** Still rolling back. */
  rollingBack: number;
  /** Not taken in any stage yet. */
  untaken: number;
}

const emptyStage = (): StageCounts => ({
  devices: 0,
  pending: 0,
  unsent: 0,
  updating: 0,
  succeeded: 0,
  failed: 0,
  offline: 0,
});

/** Counts by stage and status. */
export async function loadCounts(db: Executor, deploymentId: string): Promise<DeploymentCounts> {
  const rows = await db
    .selectFrom('deployment_devices')
    .select(['stage', 'status', 'rollback_status'])
    .select((eb) => [
      eb.fn.countAll<string>().as('n'),
      sql<boolean>`update_command_id is null`.as('unsent'),
    ])
    .where('deployment_id', '=', deploymentId)
    .groupBy(['stage', 'status', 'rollback_status', sql`update_command_id is null`])
    .execute();
  const out: DeploymentCounts = {
    total: 0,
    health: { attempted: 0, succeeded: 0, failed: 0, offline: 0 },
    stages: new Map(),
    rolledBack: 0,
    rollingBack: 0,
    untaken: 0,
  };
  for (const r of rows) {
    const n = Number(r.n);
    out.total += n;
    if (r.status !== 'pending' && r.status !== 'skipped') out.health.attempted += n;
    if (r.rollback_status === 'rolled_back') out.rolledBack += n;
    if (r.rollback_status === 'rolling_back') out.rollingBack += n;
    if (r.status === 'succeeded') out.health.succeeded += n;
    if (r.status === 'failed') out.health.failed += n;
    if (r.status === 'offline') out.health.offline += n;
    if (r.stage === null) {
      out.untaken += n;
      continue;
    }
    let s = out.stages.get(r.stage);
    if (s === undefined) out.stages.set(r.stage, (s = emptyStage()));
    s.devices += n;
    if (r.status === 'pending') s.pending += n;
    if (r.status === 'updating') s.updating += n;
    if (r.status === 'updating' && r.unsent) s.unsent += n;
    if (r.status === 'succeeded') s.succeeded += n;
    if (r.status === 'failed') s.failed += n;
    if (r.status === 'offline') s.offline += n;
  }
  return out;
}

/** Thrown when this replica no longer holds the deployment's lease. */
export class LeaseLostError extends ConflictError {
  constructor(deploymentId: string) {
    super('lease_lost', `lease of deployment ${deploymentId} lost`);
  }
}

/** Locks the deployment row; checks the lease when `owner` is given. */
export async function lockDeployment(
  trx: Transaction<DB>,
  deploymentId: string,
  owner?: string,
): Promise<DeploymentRow | undefined> {
  const row = await trx
    .selectFrom('deployments')
    .selectAll()
    .where('deployment_id', '=', deploymentId)
    .forUpdate()
    .executeTakeFirst();
  if (row !== undefined && owner !== undefined && row.lease_owner !== owner) {
    throw new LeaseLostError(deploymentId);
  }
  return row;
}

/** Wakes the driver for a deployment (a device changed, an operator acted). */
export async function nudge(db: Executor, deploymentId: string, now: Date): Promise<void> {
  await db
    .updateTable('deployments')
    .set({
      revision: sql`revision + 1`,
      next_evaluation_at: sql`least(coalesce(next_evaluation_at, ${now}), ${now})`,
    })
    .where('deployment_id', '=', deploymentId)
    .where('status', 'in', ['pending', 'running', 'paused', 'rolling_back'])
    .execute();
}

/** The progress fields of a row. */
/**
 * A device's rows (every deployment that took it) with their deployment's target version, as
 * its reports are applied; callers add their filters and the row lock.
 */
export function deviceRowsQuery(trx: Transaction<DB>, tenant: string, deviceId: string) {
  return trx
    .selectFrom('deployment_devices')
    .innerJoin('deployments', 'deployments.deployment_id', 'deployment_devices.deployment_id')
    .selectAll('deployment_devices')
    .select('deployments.firmware_version as version')
    .where('deployment_devices.tenant', '=', tenant)
    .where('deployment_devices.device_id', '=', deviceId);
}

export function progressOf(row: DeviceRow): DeviceProgress {
  return {
    status: row.status as DeviceProgress['status'],
    rollbackStatus: row.rollback_status as DeviceProgress['rollbackStatus'],
    updateState: row.update_state,
    reportedSucceeded: row.reported_succeeded,
    online: row.online,
    wentOffline: row.went_offline,
    runningVersion: row.running_version,
    error: row.error,
    rollbackResends: row.rollback_attempts,
  };
}

/** The row fields of a progress. */
export function progressColumns(p: DeviceProgress) {
  return {
    status: p.status,
    rollback_status: p.rollbackStatus,
    update_state: p.updateState,
    reported_succeeded: p.reportedSucceeded,
    online: p.online,
    went_offline: p.wentOffline,
    running_version: p.runningVersion,
    error: p.error,
  };
}
