// Firmware on a simulated device, pure: which update or rollback to run, the faults that hit
// it, the image checks and the progress marks. The MQTT and HTTP side is ota-agent.ts.
import { formatIssue, payloadCheckers } from '@drover/contracts';
import type { Random } from './random';

/** The two firmware slots of an A/B device: what runs and what it can roll back to. */
export interface FirmwareSlots {
  /** Version running now (announced in the online status). */
  current: string;
  /** Version in the other slot, or null before the first update. */
  previous: string | null;
}

/** A `firmware.update` as the device understood it. */
export interface UpdateOrder {
  /** Deployment id, echoed on every `update_status`. */
  deploymentId: string;
  /** Target version. */
  version: string;
  /** Where to download the image. */
  url: string;
  /** Expected SHA-256, lower-case hex. */
  sha256: string;
  /** Expected size in bytes. */
  size: number;
  /** Signature of the image (base64) and its algorithm. */
  signature: string;
  /** Signature algorithm (`ed25519`). */
  signatureAlg: string;
}

/** A `firmware.rollback` as the device understood it. */
export interface RollbackOrder {
  /** Deployment id. */
  deploymentId: string;
  /** Version to return to. */
  version: string;
}

/** What to do about a firmware command. */
export type FirmwarePlan<T> =
  | { kind: 'reject'; error: string }
  /** The device already runs the version: report the end state at once, nothing to install. */
  | { kind: 'already'; order: T }
  | { kind: 'start'; order: T };

/** Plans a `firmware.update`: refused when the params are bad or another update runs. */
export function planUpdate(
  params: unknown,
  slots: FirmwareSlots,
  busy: boolean,
): FirmwarePlan<UpdateOrder> {
  const checker = payloadCheckers.FirmwareUpdateParams;
  if (!checker.check(params)) {
    return { kind: 'reject', error: `bad params: ${formatIssue(checker.firstError(params)!)}` };
  }
  if (busy) return { kind: 'reject', error: 'another firmware operation is in progress' };
  const order: UpdateOrder = {
    deploymentId: params.deployment_id,
    version: params.firmware_version,
    url: params.url,
    sha256: params.sha256,
    size: params.size,
    signature: params.signature,
    signatureAlg: params.signature_alg,
  };
  return { kind: params.firmware_version === slots.current ? 'already' : 'start', order };
}

/** Plans a `firmware.rollback`: only to the version in the other slot (or the running one). */
export function planRollback(
  params: unknown,
  slots: FirmwareSlots,
  busy: boolean,
): FirmwarePlan<RollbackOrder> {
  const checker = payloadCheckers.FirmwareRollbackParams;
  if (!checker.check(params)) {
    return { kind: 'reject', error: `bad params: ${formatIssue(checker.firstError(params)!)}` };
  }
  if (busy) return { kind: 'reject', error: 'another firmware operation is in progress' };
  const order = { deploymentId: params.deployment_id, version: params.firmware_version };
  if (params.firmware_version === slots.current) return { kind: 'already', order };
  if (params.firmware_version !== slots.previous) {
    return { kind: 'reject', error: `no image of ${params.firmware_version} to roll back to` };
  }
  return { kind: 'start', order };
}

/** Slots after booting into `version` (an update or a rollback): the old one becomes previous. */
export function bootInto(slots: FirmwareSlots, version: string): FirmwareSlots {
  return { current: version, previous: slots.current };
}

/** Why a downloaded image is refused, or null when size and SHA-256 match. */
export function checkImage(
  order: Pick<UpdateOrder, 'size' | 'sha256'>,
  got: { size: number; sha256: string },
): string | null {
  if (got.size !== order.size) return `size mismatch: expected ${order.size}, got ${got.size}`;
  if (got.sha256 !== order.sha256) return `sha256 mismatch: got ${got.sha256}`;
  return null;
}

/**
 * The download progress (0–100, in steps of `step`) to report after `received` of `total`
 * bytes, or null when the last reported mark `last` is still current.
 */
export function progressMark(received: number, total: number, last: number, step = 25) {
  const percent = total === 0 ? 100 : Math.min(100, (received / total) * 100);
  const mark = Math.floor(percent / step) * step;
  return mark > last ? mark : null;
}

/** Firmware faults, each the share of devices it hits (for a given target version). */
export interface OtaFaultProfile {
  /** Devices whose update fails (reported `failed`, old version kept). */
  failureRate: number;
  /** Failure rate for particular target versions, overriding the two others. */
  failureRateByVersion: Readonly<Record<string, number>>;
  /** Failure rate of versions named `…-bad…` (the demo's bad firmware), over `failureRate`. */
  badVersionRate: number;
  /** Devices that go offline mid-update and stay away. */
  vanishRate: number;
  /** Devices that report `succeeded` and never come back (a boot loop). */
  bootLoopRate: number;
}

/** No firmware faults. */
export const NO_OTA_FAULTS: OtaFaultProfile = {
  failureRate: 0,
  failureRateByVersion: {},
  badVersionRate: 0,
  vanishRate: 0,
  bootLoopRate: 0,
};

/** The fault an update meets. */
export type OtaFault = 'none' | 'fail' | 'vanish' | 'boot_loop';

/**
 * The fault of one device updating to `version`. `rand` is a stream seeded from the device and
 * the version, so the same devices fail the same version in every run with the same seed, and
 * the shares add up: failure, then vanish, then boot loop, each a slice of [0, 1).
 */
export function otaFault(profile: OtaFaultProfile, version: string, rand: Random): OtaFault {
  const u = rand.next();
  const failure =
    profile.failureRateByVersion[version] ??
    (/-bad/.test(version) ? profile.badVersionRate : profile.failureRate);
  if (u < failure) return 'fail';
  if (u < failure + profile.vanishRate) return 'vanish';
  if (u < failure + profile.vanishRate + profile.bootLoopRate) return 'boot_loop';
  return 'none';
}

/** Parses `SIM_OTA_FAILURE_RATE_BY_VERSION`: `2.0.0=0.1,2.1.0-bad=1` (empty = none). */
export function parseVersionRates(text: string): Record<string, number> {
  const rates: Record<string, number> = {};
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const match = /^([A-Za-z0-9][A-Za-z0-9._+~-]{0,63})=([0-9.]+)$/.exec(item);
    const rate = match ? Number(match[2]) : NaN;
    if (!match || !(rate >= 0 && rate <= 1)) {
      throw new Error(`"${item}" is not <version>=<rate between 0 and 1>`);
    }
    rates[match[1] as string] = rate;
  }
  return rates;
}
