// Where a device's broker connection comes from: the plain development broker with the device
// id as client id (here), or zero-touch provisioning over mTLS (provisioning.ts).
import type { IClientOptions } from 'mqtt';
import type { SimDeviceSpec } from './domain/fleet-plan';

/** How one device reaches the broker. */
export interface DeviceConnection {
  /** Broker URL (`mqtt://` or `mqtts://`). */
  url: string;
  /** Extra client options (TLS key/cert/ca for mTLS). */
  options: Pick<IClientOptions, 'key' | 'cert' | 'ca' | 'username'>;
  /** Device id given by provisioning (default: the planned one). */
  deviceId?: string;
  /** Tenant given by provisioning (default: the configured one). */
  tenant?: string;
  /** Provisioned just now: the platform may not know the device yet (see VirtualDevice). */
  fresh?: boolean;
}

/** Supplies each device's connection; provisioning over mTLS will implement this. */
export interface DeviceIdentitySource {
  /** The connection for `device`, provisioning it first where needed. */
  connectionFor(device: SimDeviceSpec): Promise<DeviceConnection>;
  /** Replaces a device's certificate after a renewal (sources without certificates omit it). */
  update?(device: SimDeviceSpec, identity: { certificatePem: string; privateKeyPem: string }): void;
}

/** The development broker without TLS: every device connects to `url` as itself. */
export function plainBrokerIdentity(url: string): DeviceIdentitySource {
  return { connectionFor: () => Promise.resolve({ url, options: {} }) };
}
