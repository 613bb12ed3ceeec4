// Decommissioning keeps the data but freezes the device: no updates, no desired state.
import { conflict } from './errors';

/** Device lifecycle status. */
export type DeviceStatus = 'active' | 'decommissioned';

/** Throws 409 `device_decommissioned` unless the device is active. */
export function assertActive(device: { deviceId: string; status: DeviceStatus }): void {
  if (device.status === 'decommissioned') {
    throw conflict('device_decommissioned', `device ${device.deviceId} is decommissioned`);
  }
}

/** True when the call must change the device; false for a repeat (idempotent, no event). */
export function needsDecommission(status: DeviceStatus): boolean {
  return status !== 'decommissioned';
}
