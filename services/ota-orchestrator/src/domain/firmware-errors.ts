// The firmware registry's errors: stable codes (FirmwareErrorCodes) the REST gateway maps to HTTP
// and the rollout engine reports as the reason a deployment was refused.
import { FirmwareErrorCodes } from '@drover/contracts';
import {
  ConflictError,
  type DomainError,
  GoneError,
  NotFoundError,
  PayloadTooLargeError,
  ValidationError,
} from '@drover/service-kit';

/** Builders of every firmware error, one per code. */
export const firmwareErrors = {
  sha256Mismatch: (declared: string, computed: string): DomainError =>
    new ValidationError(
      FirmwareErrorCodes.sha256Mismatch,
      `the image's SHA-256 is ${computed}, not the declared ${declared}`,
      { declared, computed },
    ),
  sizeMismatch: (declared: number, computed: number | string): DomainError =>
    new ValidationError(
      FirmwareErrorCodes.sizeMismatch,
      `the image is ${computed} bytes, not the declared ${declared}`,
      { declared, computed },
    ),
  badSignature: (why: string): DomainError =>
    new ValidationError(FirmwareErrorCodes.badSignature, why),
  unknownKey: (keyId: string): DomainError =>
    new ValidationError(
      FirmwareErrorCodes.unknownKey,
      `key id ${JSON.stringify(keyId)} is not in the trusted key ring (FIRMWARE_TRUSTED_KEYS)`,
      { key_id: keyId },
    ),
  badVersion: (version: string, why: string): DomainError =>
    new ValidationError(FirmwareErrorCodes.badVersion, `version ${JSON.stringify(version)} ${why}`),
  exists: (deviceType: string, version: string): DomainError =>
    new ConflictError(
      FirmwareErrorCodes.exists,
      `firmware ${version} for ${deviceType} is already registered (firmware is immutable)`,
      { device_type: deviceType, version },
    ),
  notFound: (what: string): DomainError =>
    new NotFoundError(FirmwareErrorCodes.notFound, `firmware ${what} not found`),
  badSigstoreBundle: (why: string): DomainError =>
    new ValidationError(FirmwareErrorCodes.badSigstoreBundle, `Sigstore bundle: ${why}`),
  uploadNotFound: (bucket: string, name: string): DomainError =>
    new ValidationError(
      FirmwareErrorCodes.uploadNotFound,
      `no upload ${JSON.stringify(name)} in bucket ${JSON.stringify(bucket)}`,
    ),
  fetchFailed: (why: string): DomainError =>
    new ValidationError(FirmwareErrorCodes.fetchFailed, `cannot fetch the image: ${why}`),
  tooLarge: (size: number, max: number): DomainError =>
    new PayloadTooLargeError(
      FirmwareErrorCodes.tooLarge,
      `an image of ${size} bytes is over the limit of ${max} (FIRMWARE_MAX_BYTES)`,
    ),
  artifactMissing: (firmwareId: string): DomainError =>
    new GoneError(
      FirmwareErrorCodes.artifactMissing,
      `the stored image of firmware ${firmwareId} is missing from the artifact store`,
    ),
};
