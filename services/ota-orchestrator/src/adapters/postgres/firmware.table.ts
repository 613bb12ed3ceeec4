// Row type of the firmware registry (see migrations/202611261000_firmware.ts).
import { type ColumnType } from 'kysely';

/** A registered firmware image (immutable: never updated). */
export interface FirmwareTable {
  firmware_id: string;
  tenant: string;
  version: string;
  device_type: string;
  hardware_models: string[];
  sha256: string;
  /** bigint: pg returns it as a string. */
  size: ColumnType<string, number, never>;
  signature: string;
  signature_alg: string;
  key_id: string;
  sigstore_verified: boolean;
  artifact_key: string;
  created_at: Date;
}
