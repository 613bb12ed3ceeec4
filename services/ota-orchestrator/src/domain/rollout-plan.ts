// Planning a deployment: the resolved rollout configuration, the deterministic device order,
// cumulative stage sizes and who is eligible. Pure.
import { hash } from 'node:crypto';
import semver from 'semver';
import { type RolloutConfig, type RolloutConfigInput, ROLLOUT_DEFAULTS } from '@drover/contracts';
import { ValidationError } from '@drover/service-kit';

/** Applies the defaults and checks the stages (strictly increasing, ending at 100). */
export function resolveRolloutConfig(
  input: RolloutConfigInput | undefined,
  defaults: { ratePerS?: number | null } = {},
): RolloutConfig {
  const i = input ?? {};
  const stages = i.stages ?? [...ROLLOUT_DEFAULTS.stages];
  for (let k = 1; k < stages.length; k++) {
    if (stages[k]! <= stages[k - 1]!) {
      throw new ValidationError(
        'deployment_bad_config',
        `rollout_config.stages must be strictly increasing (got ${stages.join(', ')})`,
      );
    }
  }
  if (stages[stages.length - 1] !== 100) {
    throw new ValidationError('deployment_bad_config', 'rollout_config.stages must end at 100');
  }
  return {
    stages,
    soak_duration_minutes: i.soak_duration_minutes ?? ROLLOUT_DEFAULTS.soakDurationMinutes,
    max_error_rate: i.max_error_rate ?? ROLLOUT_DEFAULTS.maxErrorRate,
    max_offline_rate: i.max_offline_rate ?? ROLLOUT_DEFAULTS.maxOfflineRate,
    min_devices_per_stage: i.min_devices_per_stage ?? ROLLOUT_DEFAULTS.minDevicesPerStage,
    device_timeout_minutes: i.device_timeout_minutes ?? ROLLOUT_DEFAULTS.deviceTimeoutMinutes,
    min_sample: i.min_sample ?? ROLLOUT_DEFAULTS.minSample,
    rate_per_s: i.rate_per_s ?? defaults.ratePerS ?? null,
  };
}

/**
 * A device's place in a deployment's order: SHA-256 of deployment id and device id, so each
 * deployment draws a different, reproducible sample (not "the oldest devices"). One-shot
 * `crypto.hash` (no Hash object per device: ~6 times faster than createHash for 50,000 keys).
 */
export function orderKey(deploymentId: string, deviceId: string): string {
  return hash('sha256', `${deploymentId}\n${deviceId}`, 'hex');
}

/**
 * How many devices have been taken once stage `i` started, for `total` eligible devices:
 * ceil(total × percent ÷ 100), but at least `minPerStage` more than the previous stage and
 * never more than `total`; the last stage takes everyone.
 */
export function cumulativeStageSizes(
  total: number,
  stages: readonly number[],
  minPerStage: number,
): number[] {
  const out: number[] = [];
  let prev = 0;
  stages.forEach((percent, idx) => {
    const byPercent = idx === stages.length - 1 ? total : Math.ceil((total * percent) / 100);
    const size = Math.min(total, Math.max(byPercent, prev + minPerStage));
    out.push(size);
    prev = size;
  });
  return out;
}

/** Compares firmware versions: semver when both parse (loosely), else numeric-aware text. */
export function compareVersions(a: string, b: string): number {
  const sa = semver.parse(a, { loose: true });
  const sb = semver.parse(b, { loose: true });
  if (sa !== null && sb !== null) return semver.compare(sa, sb);
  return a.localeCompare(b, 'en', { numeric: true });
}

/** A device as the rollout engine sees it when resolving the target. */
export interface CandidateDevice {
  /** Device id. */
  deviceId: string;
  /** Device type. */
  deviceType: string;
  /** `active` or `decommissioned`. */
  status: string;
  /** Hardware model, if known. */
  hardwareModel: string | null;
  /** The version it runs, if known. */
  firmwareVersion: string | null;
}

/** What the deployment installs. */
export interface PlannedFirmware {
  /** Device type. */
  deviceType: string;
  /** Version. */
  version: string;
  /** Hardware models; empty = every model of the type. */
  hardwareModels: readonly string[];
}

/** Why a device is not eligible. */
export type Ineligibility =
  'decommissioned' | 'wrong_device_type' | 'hardware_mismatch' | 'same_version' | 'downgrade';

/** Whether a device may take the firmware; `null` when eligible. */
export function ineligibility(
  device: CandidateDevice,
  firmware: PlannedFirmware,
  allowDowngrade: boolean,
): Ineligibility | null {
  if (device.status !== 'active') return 'decommissioned';
  if (device.deviceType !== firmware.deviceType) return 'wrong_device_type';
  if (
    firmware.hardwareModels.length > 0 &&
    (device.hardwareModel === null || !firmware.hardwareModels.includes(device.hardwareModel))
  ) {
    return 'hardware_mismatch';
  }
  if (device.firmwareVersion === null) return null;
  const cmp = compareVersions(device.firmwareVersion, firmware.version);
  if (cmp === 0) return 'same_version';
  if (cmp > 0 && !allowDowngrade) return 'downgrade';
  return null;
}

/** The eligible devices and, for each reason, the devices left out. */
export interface Eligibility {
  /** Devices that take the update. */
  eligible: CandidateDevice[];
  /** Left out, by reason. */
  excluded: Partial<Record<Ineligibility, string[]>>;
}

/** Splits candidates into eligible and excluded. */
export function splitEligible(
  devices: readonly CandidateDevice[],
  firmware: PlannedFirmware,
  allowDowngrade: boolean,
): Eligibility {
  const out: Eligibility = { eligible: [], excluded: {} };
  for (const d of devices) {
    const why = ineligibility(d, firmware, allowDowngrade);
    if (why === null) out.eligible.push(d);
    else (out.excluded[why] ??= []).push(d.deviceId);
  }
  return out;
}

const REFUSALS: readonly [Ineligibility, string, string][] = [
  ['downgrade', 'deployment_downgrade', 'runs a newer version (set allow_downgrade)'],
  [
    'hardware_mismatch',
    'deployment_hardware_mismatch',
    'has a hardware model the firmware is not for',
  ],
  ['wrong_device_type', 'deployment_hardware_mismatch', 'is of another device type'],
  ['decommissioned', 'deployment_empty_target', 'is decommissioned'],
];

/**
 * The refusal of a target, or null. Devices named one by one must all be eligible (those already
 * on the version are skipped); a group or filter is refused only when nothing is eligible.
 */
export function refusal(
  result: Eligibility,
  explicit: boolean,
): { code: string; detail: string } | null {
  if (!explicit && result.eligible.length > 0) return null;
  for (const [why, code, text] of REFUSALS) {
    const ids = result.excluded[why];
    if (ids !== undefined) {
      const named = ids.slice(0, 5).join(', ') + (ids.length > 5 ? ', ...' : '');
      return { code, detail: `device ${named} ${text}` };
    }
  }
  if (result.eligible.length === 0) {
    return { code: 'deployment_empty_target', detail: 'the target has no eligible device' };
  }
  return null;
}
