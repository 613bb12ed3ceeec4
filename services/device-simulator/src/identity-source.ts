// Where a device's broker connection comes from. Today: the plain development broker with
// the device id as client id. Zero-touch provisioning (bootstrap certificate → fleet
// certificate over mTLS, packages/pki + services/provisioning) will be another source.
import type { IClientOptions } from 'mqtt';
import type { SimDeviceSpec } from './domain/fleet-plan';

/** How one device reaches the broker. */
export interface DeviceConnection {
  /** Broker URL (`mqtt://` or `mqtts://`). */
  url: string;
  /** Extra client options (TLS key/cert/ca for mTLS). */
  options: Pick<IClientOptions, 'key' | 'cert' | 'ca' | 'username'>;
}

/** Supplies each device's connection; provisioning over mTLS will implement this. */
export interface DeviceIdentitySource {
  /** The connection for `device`, provisioning it first where needed. */
  connectionFor(device: SimDeviceSpec): Promise<DeviceConnection>;
}

/** The development broker without TLS: every device connects to `url` as itself. */
export function plainBrokerIdentity(url: string): DeviceIdentitySource {
  return { connectionFor: () => Promise.resolve({ url, options: {} }) };
}
