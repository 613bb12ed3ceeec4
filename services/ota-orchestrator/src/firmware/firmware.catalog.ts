// The seam between the firmware registry and the rollout engine: deployments read firmware
// through this port only, so every check of the registry runs again before a device is told.

/** A registered firmware image (immutable once registered). */
export interface FirmwareRecord {
  firmware_id: string;
  tenant: string;
  version: string;
  device_type: string;
  hardware_models: string[];
  sha256: string;
  size: number;
  signature: string;
  signature_alg: 'ed25519';
  key_id: string;
  created_at: string;
}

/** What the rollout engine needs from the firmware registry. */
export interface FirmwareCatalog {
  /** The firmware of a device type at a version, or null. */
  findByVersion(
    tenant: string,
    deviceType: string,
    version: string,
  ): Promise<FirmwareRecord | null>;
  /** By id, or null. */
  get(tenant: string, firmwareId: string): Promise<FirmwareRecord | null>;
  /**
   * Runs every registration check again against the stored artifact (SHA-256, size, signature,
   * key still trusted); throws a DomainError with a precise `code` when one fails.
   */
  reverify(record: FirmwareRecord): Promise<void>;
  /** An expiring URL a device may download the image from. */
  downloadUrl(record: FirmwareRecord, deviceId: string, ttlSeconds: number): Promise<string>;
}
