// Rows → the contract's Deployment and DeploymentDevice.
import {
  type Deployment,
  type DeploymentDevice,
  type DeploymentReason,
  type DeploymentStatus,
  type DeploymentTarget,
} from '@drover/contracts';
import { healthRates } from '../domain/rollout-health';
import { shownStatus } from '../domain/rollout-device';
import {
  configOf,
  type DeploymentCounts,
  type DeploymentRow,
  type DeviceRow,
  progressOf,
  stagesOf,
} from './deployment.store';

const iso = (d: Date | null) => (d === null ? null : d.toISOString());

/** The deployment as reported by get_deployment. */
export function toDeployment(row: DeploymentRow, counts: DeploymentCounts): Deployment {
  const { allow_downgrade, ...rollout_config } = configOf(row);
  const rates = healthRates(counts.health);
  return {
    deployment_id: row.deployment_id,
    tenant: row.tenant,
    firmware_id: row.firmware_id,
    version: row.firmware_version,
    device_type: row.device_type,
    target: row.target as DeploymentTarget,
    rollout_config,
    allow_downgrade,
    status: row.status as DeploymentStatus,
    reason: row.reason as DeploymentReason | null,
    current_stage: row.current_stage < 0 ? null : row.current_stage,
    stages: stagesOf(row).map((s) => {
      const c = counts.stages.get(s.index);
      return {
        index: s.index,
        percent: s.percent,
        devices: c?.devices ?? 0,
        updating: c?.updating ?? 0,
        succeeded: c?.succeeded ?? 0,
        failed: c?.failed ?? 0,
        offline: c?.offline ?? 0,
        started_at: s.started_at,
        soak_until: s.soak_until,
        completed_at: s.completed_at,
      };
    }),
    total_devices: counts.total,
    attempted: counts.health.attempted,
    succeeded: counts.health.succeeded,
    failed: counts.health.failed,
    offline: counts.health.offline,
    rolled_back: counts.rolledBack,
    error_rate: rates.error_rate,
    offline_rate: rates.offline_rate,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
    finished_at: iso(row.finished_at),
  };
}

/** One device row as reported by list_deployment_devices. */
export function toDeploymentDevice(row: DeviceRow): DeploymentDevice {
  return {
    device_id: row.device_id,
    stage: row.stage,
    status: shownStatus(progressOf(row)) as DeploymentDevice['status'],
    previous_version: row.previous_version,
    running_version: row.running_version,
    update_state: row.update_state,
    online: row.online,
    update_command_id: row.update_command_id,
    rollback_command_id: row.rollback_command_id,
    dispatched_at: iso(row.dispatched_at),
    deadline_at: iso(row.deadline_at),
    finished_at: iso(row.finished_at),
    error: row.error,
    updated_at: row.updated_at.toISOString(),
  };
}
