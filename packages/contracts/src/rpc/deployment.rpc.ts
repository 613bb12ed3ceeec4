// The deployment (staged rollout) RPC contract (api-gateway/CLI <-> ota-orchestrator over the
// NATS services API). Requests are open (a newer caller never breaks an older orchestrator),
// responses closed; every request carries the caller's `tenant`. REST: API.md
// `POST /api/v1/firmware/deploy` and `/api/v1/deployments/...`.
import { type Static, type TSchema, Type } from '@sinclair/typebox';
import { ID_PATTERN } from '../ids';
import { FirmwareVersion } from '../payloads/common.schema';
import { GroupFilter } from './device-registry.rpc';

/** The RPC service name (the orchestrator serves firmware and deployment operations). */
export const DEPLOYMENT_SERVICE = 'ota-orchestrator';

/** Operation names of the rollout engine. */
export const DeploymentOps = {
  createDeployment: 'create_deployment',
  getDeployment: 'get_deployment',
  listDeployments: 'list_deployments',
  listDeploymentDevices: 'list_deployment_devices',
  pauseDeployment: 'pause_deployment',
  resumeDeployment: 'resume_deployment',
  abortDeployment: 'abort_deployment',
  rollbackDeployment: 'rollback_deployment',
} as const;
/** One of the deployment operation names. */
export type DeploymentOp = (typeof DeploymentOps)[keyof typeof DeploymentOps];

/**
 * Error codes of the rollout engine (DomainError codes; REST maps them by the error's status).
 * A deployment refused because of its firmware carries the firmware registry's code
 * (`firmware_sha256_mismatch`, `firmware_bad_signature`, `firmware_unknown_key`, ...).
 */
export const DeploymentErrorCodes = {
  /** 404: no such deployment for the tenant. */
  notFound: 'deployment_not_found',
  /** 409: the operation does not apply to the deployment's status (e.g. resume a running one). */
  invalidTransition: 'deployment_invalid_transition',
  /** 422-like 400: the target resolved to no eligible device. */
  emptyTarget: 'deployment_empty_target',
  /** 400: the version is not newer than a targeted device's and allow_downgrade is not set. */
  downgrade: 'deployment_downgrade',
  /** 400: a targeted device's hardware model is not among the firmware's. */
  hardwareMismatch: 'deployment_hardware_mismatch',
  /** 404: no firmware of that device type at that version. */
  unknownVersion: 'firmware_not_found',
  /** 400: the rollout configuration is inconsistent (stages not increasing, ...). */
  badConfig: 'deployment_bad_config',
  /** 404: the target group does not exist. */
  groupNotFound: 'group_not_found',
} as const;
/** One of the deployment error codes. */
export type DeploymentErrorCode = (typeof DeploymentErrorCodes)[keyof typeof DeploymentErrorCodes];

/** Defaults and bounds of the rollout configuration. */
export const ROLLOUT_DEFAULTS = {
  stages: [1, 5, 10, 25, 100],
  soakDurationMinutes: 30,
  maxErrorRate: 0.02,
  maxOfflineRate: 0.05,
  minDevicesPerStage: 1,
  deviceTimeoutMinutes: 30,
  minSample: 10,
  maxStages: 20,
  maxDeviceIds: 100_000,
} as const;

const Id = (description: string) => Type.String({ pattern: ID_PATTERN.source, description });
const Timestamp = (description: string) => Type.String({ minLength: 1, description });
const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);
const Rate = (description: string) => Type.Number({ minimum: 0, maximum: 1, description });

/** Lifecycle states of a deployment (API.md `GET /api/v1/deployments/{id}`). */
export const DeploymentStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('running'),
  Type.Literal('paused'),
  Type.Literal('rolling_back'),
  Type.Literal('rolled_back'),
  Type.Literal('completed'),
  Type.Literal('aborted'),
]);
/** A deployment lifecycle state. */
export type DeploymentStatus = Static<typeof DeploymentStatus>;

/** Why a deployment rolled back or stopped. */
export const DeploymentReason = Type.Union([
  Type.Literal('error_rate'),
  Type.Literal('offline_rate'),
  Type.Literal('manual'),
  Type.Literal('aborted'),
]);
/** Why a deployment rolled back or stopped. */
export type DeploymentReason = Static<typeof DeploymentReason>;

/** Per-device states of a deployment. */
export const DeploymentDeviceStatus = Type.Union([
  Type.Literal('pending'),
  Type.Literal('updating'),
  Type.Literal('succeeded'),
  Type.Literal('failed'),
  Type.Literal('offline'),
  Type.Literal('skipped'),
  Type.Literal('rolling_back'),
  Type.Literal('rolled_back'),
  Type.Literal('rollback_failed'),
]);
/** A per-device state. */
export type DeploymentDeviceStatus = Static<typeof DeploymentDeviceStatus>;

/** What to deploy to: exactly one of `device_ids`, `group` or `filter`. */
export const DeploymentTarget = Type.Object(
  {
    device_ids: Type.Optional(
      Type.Array(Id('device id'), { minItems: 1, maxItems: ROLLOUT_DEFAULTS.maxDeviceIds }),
    ),
    group: Type.Optional(Id('group id (static or dynamic; re-read before each stage)')),
    filter: Type.Optional(GroupFilter),
  },
  { additionalProperties: false },
);
/** The target of a deployment. */
export type DeploymentTarget = Static<typeof DeploymentTarget>;

/** `rollout_config` of a deployment request; every field optional. */
export const RolloutConfigInput = Type.Object({
  stages: Type.Optional(
    Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), {
      minItems: 1,
      maxItems: ROLLOUT_DEFAULTS.maxStages,
      description: 'cumulative percentages, strictly increasing, ending at 100',
    }),
  ),
  soak_duration_minutes: Type.Optional(
    Type.Number({ minimum: 0, maximum: 7 * 24 * 60, description: 'fractions allowed' }),
  ),
  max_error_rate: Type.Optional(Rate('failed ÷ attempted above which it rolls back')),
  max_offline_rate: Type.Optional(Rate('offline ÷ attempted above which it rolls back')),
  min_devices_per_stage: Type.Optional(Type.Integer({ minimum: 1, maximum: 1_000_000 })),
  device_timeout_minutes: Type.Optional(
    Type.Number({ exclusiveMinimum: 0, maximum: 7 * 24 * 60, description: 'fractions allowed' }),
  ),
  min_sample: Type.Optional(
    Type.Integer({
      minimum: 1,
      maximum: 1_000_000,
      description: 'finished devices before judging',
    }),
  ),
  rate_per_s: Type.Optional(
    Type.Integer({ minimum: 1, maximum: 10_000, description: 'commands per second' }),
  ),
});
/** `rollout_config` as given. */
export type RolloutConfigInput = Static<typeof RolloutConfigInput>;

/** The rollout configuration with every default applied (as stored and reported). */
export const RolloutConfig = Type.Object(
  {
    stages: Type.Array(Type.Number()),
    soak_duration_minutes: Type.Number(),
    max_error_rate: Type.Number(),
    max_offline_rate: Type.Number(),
    min_devices_per_stage: Type.Integer(),
    device_timeout_minutes: Type.Number(),
    min_sample: Type.Integer(),
    rate_per_s: Nullable(Type.Integer()),
  },
  { additionalProperties: false },
);
/** The resolved rollout configuration. */
export type RolloutConfig = Static<typeof RolloutConfig>;

/** `create_deployment` request (REST `POST /api/v1/firmware/deploy`). */
export const CreateDeploymentRequest = Type.Object({
  tenant: Id('the caller token tenant'),
  version: FirmwareVersion,
  device_type: Id('device type'),
  target: DeploymentTarget,
  rollout_config: Type.Optional(RolloutConfigInput),
  allow_downgrade: Type.Optional(Type.Boolean({ default: false })),
  idempotency_key: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  created_by: Type.Optional(Type.String({ maxLength: 256, description: 'token subject' })),
});
/** `create_deployment` request. */
export type CreateDeploymentRequest = Static<typeof CreateDeploymentRequest>;

/** One stage of a deployment as reported. */
export const DeploymentStage = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    percent: Type.Number(),
    devices: Type.Integer({ minimum: 0, description: 'devices taken in this stage' }),
    updating: Type.Integer({ minimum: 0 }),
    succeeded: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    offline: Type.Integer({ minimum: 0 }),
    started_at: Nullable(Timestamp('first command of the stage')),
    soak_until: Nullable(Timestamp('end of the soak once every device finished')),
    completed_at: Nullable(Timestamp('stage judged healthy')),
  },
  { additionalProperties: false },
);
/** One stage. */
export type DeploymentStage = Static<typeof DeploymentStage>;

/** A deployment (REST `GET /api/v1/deployments/{id}`). */
export const Deployment = Type.Object(
  {
    deployment_id: Id('deployment id (ULID)'),
    tenant: Id('tenant'),
    firmware_id: Id('firmware id'),
    version: FirmwareVersion,
    device_type: Id('device type'),
    target: DeploymentTarget,
    rollout_config: RolloutConfig,
    allow_downgrade: Type.Boolean(),
    status: DeploymentStatus,
    reason: Nullable(DeploymentReason),
    current_stage: Nullable(Type.Integer({ minimum: 0, description: 'index into stages' })),
    stages: Type.Array(DeploymentStage),
    total_devices: Type.Integer({ minimum: 0, description: 'eligible devices so far' }),
    attempted: Type.Integer({ minimum: 0 }),
    succeeded: Type.Integer({ minimum: 0 }),
    failed: Type.Integer({ minimum: 0 }),
    offline: Type.Integer({ minimum: 0 }),
    rolled_back: Type.Integer({ minimum: 0 }),
    error_rate: Type.Number({ minimum: 0, maximum: 1 }),
    offline_rate: Type.Number({ minimum: 0, maximum: 1 }),
    created_by: Nullable(Type.String()),
    created_at: Timestamp('created'),
    updated_at: Timestamp('last change'),
    finished_at: Nullable(Timestamp('reached completed, rolled_back or aborted')),
  },
  { additionalProperties: false },
);
/** A deployment. */
export type Deployment = Static<typeof Deployment>;

/** `get_deployment` request. */
export const GetDeploymentRequest = Type.Object({
  tenant: Id('tenant'),
  deployment_id: Id('deployment id'),
});
/** `get_deployment` request. */
export type GetDeploymentRequest = Static<typeof GetDeploymentRequest>;

const Page = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })),
};

/** `list_deployments` request (newest first). */
export const ListDeploymentsRequest = Type.Object({
  tenant: Id('tenant'),
  status: Type.Optional(DeploymentStatus),
  ...Page,
});
/** `list_deployments` request. */
export type ListDeploymentsRequest = Static<typeof ListDeploymentsRequest>;

/** A page of deployments. */
export const DeploymentList = Type.Object(
  { items: Type.Array(Deployment), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of deployments. */
export type DeploymentList = Static<typeof DeploymentList>;

/** One device of a deployment (REST `GET /api/v1/deployments/{id}/devices`). */
export const DeploymentDevice = Type.Object(
  {
    device_id: Id('device id'),
    stage: Nullable(Type.Integer({ minimum: 0, description: 'null until taken in a stage' })),
    status: DeploymentDeviceStatus,
    previous_version: Nullable(Type.String()),
    running_version: Nullable(Type.String({ description: 'last version the device reported' })),
    update_state: Nullable(Type.String({ description: 'last update_status state' })),
    online: Nullable(Type.Boolean()),
    update_command_id: Nullable(Id('firmware.update command')),
    rollback_command_id: Nullable(Id('firmware.rollback command')),
    dispatched_at: Nullable(Timestamp('update command created')),
    deadline_at: Nullable(Timestamp('failed if not succeeded by then')),
    finished_at: Nullable(Timestamp('reached a final update state')),
    error: Nullable(Type.String()),
    updated_at: Timestamp('last change'),
  },
  { additionalProperties: false },
);
/** One device of a deployment. */
export type DeploymentDevice = Static<typeof DeploymentDevice>;

/** `list_deployment_devices` request, in stage order. */
export const ListDeploymentDevicesRequest = Type.Object({
  tenant: Id('tenant'),
  deployment_id: Id('deployment id'),
  status: Type.Optional(DeploymentDeviceStatus),
  stage: Type.Optional(Type.Integer({ minimum: 0 })),
  ...Page,
});
/** `list_deployment_devices` request. */
export type ListDeploymentDevicesRequest = Static<typeof ListDeploymentDevicesRequest>;

/** A page of deployment devices. */
export const DeploymentDeviceList = Type.Object(
  { items: Type.Array(DeploymentDevice), next_cursor: Nullable(Type.String()) },
  { additionalProperties: false },
);
/** A page of deployment devices. */
export type DeploymentDeviceList = Static<typeof DeploymentDeviceList>;

/** `pause_deployment`, `resume_deployment`, `abort_deployment`, `rollback_deployment`. */
export const DeploymentControlRequest = Type.Object({
  tenant: Id('tenant'),
  deployment_id: Id('deployment id'),
  detail: Type.Optional(Type.String({ maxLength: 1024, description: 'operator note' })),
});
/** An operator control request. */
export type DeploymentControlRequest = Static<typeof DeploymentControlRequest>;

/** Request and response schema of every operation (for route schemas, OpenAPI and tests). */
export const DeploymentRpc = {
  [DeploymentOps.createDeployment]: { request: CreateDeploymentRequest, response: Deployment },
  [DeploymentOps.getDeployment]: { request: GetDeploymentRequest, response: Deployment },
  [DeploymentOps.listDeployments]: { request: ListDeploymentsRequest, response: DeploymentList },
  [DeploymentOps.listDeploymentDevices]: {
    request: ListDeploymentDevicesRequest,
    response: DeploymentDeviceList,
  },
  [DeploymentOps.pauseDeployment]: { request: DeploymentControlRequest, response: Deployment },
  [DeploymentOps.resumeDeployment]: { request: DeploymentControlRequest, response: Deployment },
  [DeploymentOps.abortDeployment]: { request: DeploymentControlRequest, response: Deployment },
  [DeploymentOps.rollbackDeployment]: { request: DeploymentControlRequest, response: Deployment },
} as const;

// ---- Rollout rehearsal (dry run): same target resolution and firmware checks as create, then a
// seeded simulation of the rollout against virtual copies of the eligible devices. Writes nothing.

/** Operation name of the rehearsal (served next to the deployment operations). */
export const RehearsalOps = { rehearseDeployment: 'rehearse_deployment' } as const;

const FaultRateFields = {
  failure_rate: Type.Optional(Rate('share of devices that report failed')),
  offline_rate: Type.Optional(Rate('share that go offline during the update and stay away')),
  never_returns_rate: Type.Optional(
    Rate('share that report succeeded, reboot and never come back (counted offline)'),
  ),
};

/** Injected faults of a rehearsal (each 0 when omitted; their sum at most 1). */
export const RehearsalFaultsInput = Type.Object({
  ...FaultRateFields,
  by_model: Type.Optional(
    Type.Record(Type.String({ minLength: 1, maxLength: 128 }), Type.Object(FaultRateFields), {
      description: 'per hardware model, rates that replace the global ones',
    }),
  ),
});
/** Injected faults. */
export type RehearsalFaultsInput = Static<typeof RehearsalFaultsInput>;

/** `rehearse_deployment` request: a create request plus faults and a seed. */
export const RehearseDeploymentRequest = Type.Object({
  tenant: Id('the caller token tenant'),
  version: FirmwareVersion,
  device_type: Id('device type'),
  target: DeploymentTarget,
  rollout_config: Type.Optional(RolloutConfigInput),
  allow_downgrade: Type.Optional(Type.Boolean({ default: false })),
  faults: Type.Optional(RehearsalFaultsInput),
  seed: Type.Optional(
    Type.Integer({ minimum: 0, maximum: 4_294_967_295, description: 'PRNG seed (default 1)' }),
  ),
});
/** `rehearse_deployment` request. */
export type RehearseDeploymentRequest = Static<typeof RehearseDeploymentRequest>;

const Count = Type.Integer({ minimum: 0 });

/** One stage as the rehearsal saw it. */
export const RehearsalStage = Type.Object(
  {
    index: Type.Integer({ minimum: 0 }),
    percent: Type.Number(),
    devices: Count,
    succeeded: Count,
    failed: Count,
    offline: Count,
    updating: Count,
    started_at_minute: Nullable(Type.Number({ description: 'virtual minutes from the start' })),
    completed_at_minute: Nullable(Type.Number({ description: 'judged healthy after its soak' })),
  },
  { additionalProperties: false },
);

/** `rehearse_deployment` response (REST `POST /api/v1/firmware/deploy` with `dry_run: true`). */
export const RehearsalReport = Type.Object(
  {
    dry_run: Type.Literal(true),
    version: FirmwareVersion,
    device_type: Id('device type'),
    rollout_config: RolloutConfig,
    seed: Type.Integer({ minimum: 0 }),
    outcome: Type.Union([Type.Literal('completed'), Type.Literal('rolled_back')]),
    reason: Nullable(Type.Union([Type.Literal('error_rate'), Type.Literal('offline_rate')])),
    stage: Type.Integer({ minimum: 0, description: 'where the gate tripped, or the last stage' }),
    total_devices: Count,
    hardware_mix: Type.Record(Type.String(), Count, {
      description: 'eligible devices per hardware model ("unknown" when none)',
    }),
    excluded: Type.Record(Type.String(), Count, { description: 'left out, by reason' }),
    error_rate: Type.Number({ minimum: 0, maximum: 1 }),
    offline_rate: Type.Number({ minimum: 0, maximum: 1 }),
    blast_radius: Type.Object(
      {
        touched: Type.Integer({ minimum: 0, description: 'devices sent the update' }),
        fraction: Type.Number({ minimum: 0, maximum: 1 }),
        succeeded: Count,
        failed: Count,
        offline: Count,
        updating: Count,
        by_hardware_model: Type.Record(Type.String(), Count),
      },
      { additionalProperties: false },
    ),
    stages: Type.Array(RehearsalStage),
    duration_minutes: Type.Number({ minimum: 0, description: 'virtual time to the outcome' }),
    faults_drawn: Type.Object(
      { fail: Count, offline: Count, never_returns: Count },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
/** A rehearsal's report. */
export type RehearsalReport = Static<typeof RehearsalReport>;

/** Request and response schema of the rehearsal operation. */
export const RehearsalRpc = {
  [RehearsalOps.rehearseDeployment]: {
    request: RehearseDeploymentRequest,
    response: RehearsalReport,
  },
} as const;
