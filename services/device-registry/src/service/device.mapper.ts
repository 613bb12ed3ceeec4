// Rows to the RPC shapes of @drover/contracts (snake_case, RFC 3339 times).
import {
  type Device,
  type DeviceMeta,
  type DeviceState,
  type Group,
  type GroupFilter,
} from '@drover/contracts';
import { computeDelta } from '../domain/device-state';
import { type DeviceRow, type DeviceStateRow } from '../adapters/postgres/device.table';
import { type GroupRow } from '../adapters/postgres/group.table';

const iso = (d: Date | null): string | null => (d === null ? null : d.toISOString());

/** A device row as the RPC `Device`. */
export function toDevice(row: DeviceRow): Device {
  return {
    device_id: row.device_id,
    tenant: row.tenant,
    device_type: row.device_type,
    hardware_id: row.hardware_id,
    hardware_model: row.hardware_model,
    status: row.status,
    connectivity: row.connectivity,
    last_seen: iso(row.last_seen),
    firmware_version: row.firmware_version,
    tags: row.tags,
    attributes: row.attributes,
    certificate: row.certificate,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** The hot-path metadata of a device. */
export function toMeta(device: Device): DeviceMeta {
  return {
    device_id: device.device_id,
    tenant: device.tenant,
    device_type: device.device_type,
    status: device.status,
  };
}

/** A state row as the RPC `DeviceState`. */
export function toDeviceState(row: DeviceStateRow): DeviceState {
  return {
    desired: {
      state: row.desired,
      version: row.desired_version,
      updated_at: iso(row.desired_updated_at),
    },
    reported: {
      state: row.reported,
      version: row.reported_version,
      updated_at: iso(row.reported_updated_at),
    },
    delta: computeDelta(row.desired, row.reported),
  };
}

/** A group row (plus static members) as the RPC `Group`. */
export function toGroup(row: GroupRow, deviceIds?: string[]): Group {
  const group: Group = {
    group_id: row.group_id,
    tenant: row.tenant,
    name: row.name,
    description: row.description,
    kind: row.kind,
    created_at: row.created_at.toISOString(),
  };
  if (row.kind === 'static') group.device_ids = deviceIds ?? [];
  else group.filter = row.filter as GroupFilter;
  return group;
}
