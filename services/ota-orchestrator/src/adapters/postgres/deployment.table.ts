// Row types of the rollout tables (see migrations/202611261001_deployments.ts).
import { type ColumnType } from 'kysely';

type Json<T> = ColumnType<T, string, string>;

/** A deployment. */
export interface DeploymentTable {
  deployment_id: string;
  tenant: string;
  firmware_id: string;
  firmware_version: string;
  device_type: string;
  target: Json<unknown>;
  config: Json<unknown>;
  status: string;
  reason: string | null;
  current_stage: number;
  stages: Json<unknown>;
  next_evaluation_at: Date | null;
  lease_owner: string | null;
  lease_until: Date | null;
  revision: number;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
  finished_at: Date | null;
}

/** One device of a deployment. */
export interface DeploymentDeviceTable {
  deployment_id: string;
  device_id: string;
  tenant: string;
  order_key: string;
  stage: number | null;
  status: string;
  hardware_model: string | null;
  previous_version: string | null;
  update_state: string | null;
  reported_succeeded: boolean;
  online: boolean | null;
  went_offline: boolean;
  running_version: string | null;
  update_command_id: string | null;
  rollback_command_id: string | null;
  dispatched_at: Date | null;
  deadline_at: Date | null;
  finished_at: Date | null;
  rollback_dispatched_at: Date | null;
  error: string | null;
  updated_at: Date;
}
