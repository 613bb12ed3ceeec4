// Where a device's broker connection comes from: the plain development broker with the device
// id as client id (here), or zero-touch provisioning over mTLS (provisioning.ts).
import { readFile } from 'node:fs/promises';
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

/** One pre-issued fleet identity in a SIM_IDENTITY_FILE. */
export interface IssuedIdentity {
  /** Fleet certificate (PEM, CN = device id). */
  cert: string;
  /** Its private key (PEM). */
  key: string;
}

/**
 * Fleet certificates issued beforehand (SIM_IDENTITY_FILE): every device connects to the fleet
 * listener `url` with its own certificate, no provisioning round trip. A device missing from the
 * file cannot start (its start rejects, naming the file).
 */
export async function preissuedIdentity(opts: {
  file: string;
  url: string;
  caFile: string;
}): Promise<DeviceIdentitySource> {
  const identities = JSON.parse(await readFile(opts.file, 'utf8')) as Record<
    string,
    IssuedIdentity
  >;
  const ca = await readFile(opts.caFile, 'utf8');
  return {
    connectionFor(device) {
      const id = identities[device.deviceId];
      if (id === undefined) {
        return Promise.reject(new Error(`no identity for ${device.deviceId} in ${opts.file}`));
      }
      return Promise.resolve({ url: opts.url, options: { cert: id.cert, key: id.key, ca } });
    },
  };
}
