// Postgres access of the firmware registry (table `firmware`, immutable rows).
import { type Selectable } from 'kysely';
import { type Firmware } from '@drover/contracts';
import { type FirmwareTable } from '../adapters/postgres/firmware.table';
import { type Executor } from '../adapters/postgres/schema';
import { type FirmwareRecord } from './firmware.catalog';

/** A stored row. */
export type FirmwareRow = Selectable<FirmwareTable>;

/** A row as the registry returns it (contract shape plus the artifact key). */
export interface StoredFirmware extends FirmwareRecord {
  sigstore_verified: boolean;
  artifact_key: string;
}

/** Row → record. */
export function toStored(row: FirmwareRow): StoredFirmware {
  return {
    firmware_id: row.firmware_id,
    tenant: row.tenant,
    version: row.version,
    device_type: row.device_type,
    hardware_models: row.hardware_models,
    sha256: row.sha256,
    size: Number(row.size),
    signature: row.signature,
    signature_alg: 'ed25519',
    key_id: row.key_id,
    sigstore_verified: row.sigstore_verified,
    artifact_key: row.artifact_key,
    created_at: row.created_at.toISOString(),
  };
}

/** Record → the contract's Firmware (what RPC answers). */
export function toFirmware(f: StoredFirmware): Firmware {
  return {
    firmware_id: f.firmware_id,
    tenant: f.tenant,
    version: f.version,
    device_type: f.device_type,
    hardware_models: f.hardware_models,
    sha256: f.sha256,
    size: f.size,
    signature: f.signature,
    signature_alg: f.signature_alg,
    key_id: f.key_id,
    sigstore_verified: f.sigstore_verified,
    created_at: f.created_at,
  };
}

/** Postgres unique violation. */
export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === '23505';
}

/** Reads and writes firmware rows. */
export class FirmwareRepository {
  constructor(private readonly db: Executor) {}

  async insert(trx: Executor, f: StoredFirmware): Promise<void> {
    await trx
      .insertInto('firmware')
      .values({
        firmware_id: f.firmware_id,
        tenant: f.tenant,
        version: f.version,
        device_type: f.device_type,
        hardware_models: f.hardware_models,
        sha256: f.sha256,
        size: f.size,
        signature: f.signature,
        signature_alg: f.signature_alg,
        key_id: f.key_id,
        sigstore_verified: f.sigstore_verified,
        artifact_key: f.artifact_key,
        created_at: new Date(f.created_at),
      })
      .execute();
  }

  async get(tenant: string, firmwareId: string): Promise<StoredFirmware | null> {
    const row = await this.db
      .selectFrom('firmware')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('firmware_id', '=', firmwareId)
      .executeTakeFirst();
    return row === undefined ? null : toStored(row);
  }

  /** By id in any tenant (the download endpoint: the signed URL names no tenant). */
  async getAnyTenant(firmwareId: string): Promise<StoredFirmware | null> {
    const row = await this.db
      .selectFrom('firmware')
      .selectAll()
      .where('firmware_id', '=', firmwareId)
      .executeTakeFirst();
    return row === undefined ? null : toStored(row);
  }

  async findByVersion(
    tenant: string,
    deviceType: string,
    version: string,
  ): Promise<StoredFirmware | null> {
    const row = await this.db
      .selectFrom('firmware')
      .selectAll()
      .where('tenant', '=', tenant)
      .where('device_type', '=', deviceType)
      .where('version', '=', version)
      .executeTakeFirst();
    return row === undefined ? null : toStored(row);
  }

  /** Newest first (firmware ids are ULIDs), after `beforeId` when given; `limit + 1` rows read. */
  async list(q: {
    tenant: string;
    deviceType?: string;
    version?: string;
    beforeId?: string;
    limit: number;
  }): Promise<StoredFirmware[]> {
    let query = this.db.selectFrom('firmware').selectAll().where('tenant', '=', q.tenant);
    if (q.deviceType !== undefined) query = query.where('device_type', '=', q.deviceType);
    if (q.version !== undefined) query = query.where('version', '=', q.version);
    if (q.beforeId !== undefined) query = query.where('firmware_id', '<', q.beforeId);
    const rows = await query
      .orderBy('firmware_id', 'desc')
      .limit(q.limit + 1)
      .execute();
    return rows.map(toStored);
  }
}
