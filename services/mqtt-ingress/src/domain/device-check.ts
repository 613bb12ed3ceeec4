import { type DeviceTopic, type RejectReason } from '@drover/contracts';

/** What the ingress needs to know about a device (the registry's `get_devices_meta`). */
export interface DeviceMeta {
  /** Device id. */
  deviceId: string;
  /** Owning tenant. */
  tenant: string;
  /** Registered device type. */
  deviceType: string;
  /** Lifecycle status: decommissioned devices are refused. */
  status: 'active' | 'decommissioned';
}

/**
 * Checks the ids in a topic against the registry's view of the device. `null` meta means the
 * registry does not know the device in that tenant (it scopes by tenant, so a device published
 * under another tenant's root is `unknown_device` too: no cross-tenant existence oracle).
 */
export function checkDevice(topic: DeviceTopic, meta: DeviceMeta | null): RejectReason | null {
  if (meta === null) return 'unknown_device';
  if (meta.tenant !== topic.tenant) return 'wrong_tenant';
  if (meta.deviceType !== topic.deviceType) return 'wrong_device_type';
  if (meta.status !== 'active') return 'decommissioned';
  return null;
}
