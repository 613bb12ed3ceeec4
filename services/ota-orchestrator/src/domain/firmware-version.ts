// Firmware versions are strict semantic versions (2.0.0): `1.4.2`, `2.0.0-rc.1+build5`. No `v`
// prefix, no loose forms: a device compares them the same way.
import semver from 'semver';
import { firmwareErrors } from './firmware-errors';

const MAX_LENGTH = 64;
// MAJOR.MINOR.PATCH first, nothing around it (semver.parse alone also takes `v1.0.0`, `=1.0.0`).
const STRICT = /^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]*)?$/;

/** The version if it is a strict semantic version, else a firmware_bad_version error. */
export function parseFirmwareVersion(version: string): string {
  if (version.length > MAX_LENGTH) {
    throw firmwareErrors.badVersion(
      version.slice(0, MAX_LENGTH),
      `is over ${MAX_LENGTH} characters`,
    );
  }
  if (!STRICT.test(version) || semver.parse(version) === null) {
    throw firmwareErrors.badVersion(version, 'is not a semantic version (MAJOR.MINOR.PATCH)');
  }
  return version;
}

/** Whether `version` is a strict semantic version. */
export function isFirmwareVersion(version: string): boolean {
  return version.length <= MAX_LENGTH && STRICT.test(version) && semver.parse(version) !== null;
}

/** Semantic-version order: negative, 0 or positive (build metadata ignored, as semver says). */
export function compareFirmwareVersions(a: string, b: string): number {
  return semver.compare(parseFirmwareVersion(a), parseFirmwareVersion(b));
}

/**
 * What moving a device from `current` to `target` is: `upgrade`, `same` or `downgrade`.
 * A device whose version is unknown or not semantic (`null`, `dev-build`) is an `upgrade`
 * candidate: it cannot be shown to run something newer.
 */
export function versionChange(
  current: string | null,
  target: string,
): 'upgrade' | 'same' | 'downgrade' {
  const t = parseFirmwareVersion(target);
  if (current === null || !isFirmwareVersion(current)) return 'upgrade';
  const order = semver.compare(current, t);
  if (order === 0) return 'same';
  return order < 0 ? 'upgrade' : 'downgrade';
}

/** True when a device at `current` may take `target` (a downgrade only when allowed). */
export function mayInstall(
  current: string | null,
  target: string,
  allowDowngrade: boolean,
): boolean {
  const change = versionChange(current, target);
  if (change === 'same') return false;
  return change === 'upgrade' || allowDowngrade;
}
