// Typed tables of the device_registry schema (kysely style).
import { type ColumnType, type Insertable, type Selectable, type Updateable } from 'kysely';

type Timestamp = ColumnType<Date, Date | string, Date | string>;
type CreatedAt = ColumnType<Date, Date | string | undefined, never>;
type Json<T> = ColumnType<T, string, string>;

/** `devices`: one row per device, PK (tenant, device_id). */
export interface DeviceTable {
  /** Owning tenant. */
  tenant: string;
  /** Device id. */
  device_id: string;
  /** Device type (also in device_types). */
  device_type: string;
  /** Factory hardware id, unique per tenant. */
  hardware_id: string;
  /** Hardware model or null. */
  hardware_model: string | null;
  /** `active` or `decommissioned`. */
  status: ColumnType<'active' | 'decommissioned', 'active' | 'decommissioned' | undefined>;
  /** `online`, `offline` or `unknown`. */
  connectivity: ColumnType<
    'online' | 'offline' | 'unknown',
    'online' | 'offline' | 'unknown' | undefined
  >;
  /** Last activity. */
  last_seen: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Device timestamp of the last applied presence (orders out-of-order presence). */
  last_presence_ts: ColumnType<Date | null, Date | string | null | undefined, Date | string | null>;
  /** Firmware version from the last online status. */
  firmware_version: string | null;
  /** Tags (sorted, unique). */
  tags: ColumnType<string[], string[], string[]>;
  /** Flat attributes. */
  attributes: Json<Record<string, string | number | boolean>>;
  /** Certificate summary, set by provisioning. */
  certificate: ColumnType<
    { serial: string; not_after: string; status: string } | null,
    string | null | undefined,
    string | null
  >;
  /** Creation time. */
  created_at: CreatedAt;
  /** Last change. */
  updated_at: Timestamp;
  /** When decommissioned. */
  decommissioned_at: ColumnType<Date | null, Date | string | null | undefined, Date | string>;
}

/** `device_types`: auto-created on first use. */
export interface DeviceTypeTable {
  /** Owning tenant. */
  tenant: string;
  /** Device type id. */
  device_type: string;
  /** First use. */
  created_at: CreatedAt;
}

/** `device_state`: desired and reported documents, one row per device. */
export interface DeviceStateTable {
  /** Owning tenant. */
  tenant: string;
  /** Device id. */
  device_id: string;
  /** Desired document. */
  desired: Json<Record<string, unknown>>;
  /** Desired version (0 before the first PUT). */
  desired_version: number;
  /** Last desired change. */
  desired_updated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string>;
  /** Reported document. */
  reported: Json<Record<string, unknown>>;
  /** Reported version (0 before the first report). */
  reported_version: number;
  /** Last reported change. */
  reported_updated_at: ColumnType<Date | null, Date | string | null | undefined, Date | string>;
}

/** A device row as read. */
export type DeviceRow = Selectable<DeviceTable>;
/** A device row to insert. */
export type NewDeviceRow = Insertable<DeviceTable>;
/** A device row change. */
export type DeviceRowUpdate = Updateable<DeviceTable>;
/** A state row as read. */
export type DeviceStateRow = Selectable<DeviceStateTable>;
