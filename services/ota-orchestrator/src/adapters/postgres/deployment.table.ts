// Row types of the rollout tables (see migrations/202611261001_deployments.ts).
import { type ColumnType } from 'kysely';

type Json<T> = ColumnType<T, string, string>;
/** A column with a default or null: optional on insert. */
type Opt<T> = ColumnType<T, T | undefined, T>;

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
  reason: Opt<string | null>;
  current_stage: number;
  stages: Json<unknown>;
  next_evaluation_at: Opt<Date | null>;
  lease_owner: Opt<string | null>;
  lease_until: Opt<Date | null>;
  revision: Opt<number>;
  created_by: Opt<string | null>;
  idempotency_key: Opt<string | null>;
  created_at: Date;
  updated_at: Date;
  finished_at: Opt<Date | null>;
}

/** One device of a deployment. */
export interface DeploymentDeviceTable {
  deployment_id: string;
  device_id: string;
  tenant: string;
  order_key: string;
  stage: Opt<number | null>;
  joined: Opt<boolean>;
  status: string;
  rollback_status: Opt<string | null>;
  hardware_model: Opt<string | null>;
  previous_version: Opt<string | null>;
  update_state: Opt<string | null>;
  reported_succeeded: Opt<boolean>;
  online: Opt<boolean | null>;
  went_offline: Opt<boolean>;
  running_version: Opt<string | null>;
  presence_at: Opt<Date | null>;
  update_command_id: Opt<string | null>;
  rollback_command_id: Opt<string | null>;
  /** Times the rollback was sent again after the first. */
  rollback_attempts: Opt<number>;
  dispatched_at: Opt<Date | null>;
  deadline_at: Opt<Date | null>;
  finished_at: Opt<Date | null>;
  rollback_dispatched_at: Opt<Date | null>;
  error: Opt<string | null>;
  updated_at: Date;
}
