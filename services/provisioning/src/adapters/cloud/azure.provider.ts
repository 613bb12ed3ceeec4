// Azure IoT Hub through the azure-iothub Registry. Two authentication modes:
// - `ca`: the hub trusts our fleet CA (uploaded and verified once by the operator); a device is
//   created with `certificateAuthority` authentication and any certificate with CN = device id
//   works, so registering and superseding need no hub call; revocation disables the device.
// - `thumbprint`: the device is `selfSigned` with the certificate's SHA-256 thumbprint; during a
//   renewal overlap the new one is primary and the old one secondary.
import { Registry } from 'azure-iothub';
import { type CloudPolicy } from './resilience';
import {
  type CertificateToRegister,
  type CloudEndpoints,
  type CloudIdentity,
  type CloudProvider,
} from './cloud-provider';

/** Settings of {@link createAzureProvider}. */
export interface AzureProviderOptions {
  /** IoT Hub connection string with registry write rights. */
  connectionString: string;
  /** `ca` (X.509 CA) or `thumbprint` (self-signed thumbprints). */
  authMode: 'ca' | 'thumbprint';
  /** Retry and breaker policy. */
  policy: CloudPolicy;
  /** REST API URL handed to devices. */
  apiUrl: string;
}

/** Status code of an azure-iothub error (its HTTP response), if any. */
function statusOf(err: Error): number | undefined {
  return (err as { response?: { statusCode?: number } }).response?.statusCode;
}

/** Whether an IoT Hub error is throttling (429). */
export function isAzureThrottle(err: Error): boolean {
  return statusOf(err) === 429 || err.name === 'ThrottlingError';
}

/** Whether an IoT Hub error is a transient server failure (5xx). */
export function isAzureTransient(err: Error): boolean {
  const status = statusOf(err);
  return status !== undefined && status >= 500;
}

/** The hub host name from a connection string (`HostName=...;...`). */
export function hubHostOf(connectionString: string): string {
  const host = /(?:^|;)HostName=([^;]+)/i.exec(connectionString)?.[1];
  if (host === undefined) throw new Error('AZURE_IOTHUB_CONNECTION_STRING has no HostName');
  return host;
}

const thumbprint = (cert: CertificateToRegister) => cert.fingerprintSha256.toUpperCase();

/** The Azure IoT Hub provider. */
export function createAzureProvider(opts: AzureProviderOptions): CloudProvider {
  const registry = Registry.fromConnectionString(opts.connectionString);
  const host = hubHostOf(opts.connectionString);
  const run = <T>(operation: string, fn: () => Promise<T>) => opts.policy.run(operation, fn);
  const ignoring = async (status: number, fn: () => Promise<unknown>) => {
    try {
      await fn();
    } catch (err) {
      if (statusOf(err as Error) !== status) throw err;
    }
  };

  const setEnabled = async (deviceId: string, enabled: boolean) => {
    const { responseBody: device } = await run('get', () => registry.get(deviceId));
    await run('update', () =>
      registry.update({
        deviceId,
        status: enabled ? 'enabled' : 'disabled',
        authentication: device.authentication,
      }),
    );
  };

  return {
    kind: 'azure',
    issuesCertificates: false,

    async createIdentity(identity: CloudIdentity): Promise<void> {
      // Thumbprint devices are created with their first thumbprint in registerCertificate.
      if (opts.authMode !== 'ca') return;
      // 409: created by an earlier attempt of the same provisioning.
      await ignoring(409, () =>
        run('create', () =>
          registry.create({
            deviceId: identity.deviceId,
            status: 'enabled',
            authentication: { type: 'certificateAuthority' },
          }),
        ),
      );
    },

    issueCertificate(): Promise<never> {
      return Promise.reject(new Error('azure: certificates are issued by the fleet CA'));
    },

    async registerCertificate(identity, cert, previous): Promise<string> {
      if (opts.authMode === 'ca') return thumbprint(cert);
      const authentication = {
        type: 'selfSigned',
        x509Thumbprint: {
          primaryThumbprint: thumbprint(cert),
          ...(previous !== undefined && { secondaryThumbprint: thumbprint(previous) }),
        },
      };
      const device = { deviceId: identity.deviceId, status: 'enabled', authentication };
      // create() for a first provisioning; update() (If-Match *) when the device exists.
      if (previous === undefined) {
        try {
          await run('create', () => registry.create(device));
          return thumbprint(cert);
        } catch (err) {
          if (statusOf(err as Error) !== 409) throw err;
        }
      }
      await run('update', () => registry.update(device));
      return thumbprint(cert);
    },

    async revoke(identity, cloudCertificateId, permanent): Promise<void> {
      if (permanent) {
        await setEnabled(identity.deviceId, false);
        return;
      }
      if (opts.authMode === 'ca') return;
      // Superseded: drop the old thumbprint, keep the device's current one.
      const { responseBody: device } = await run('get', () => registry.get(identity.deviceId));
      const prints = device.authentication?.x509Thumbprint ?? {};
      if (prints.secondaryThumbprint !== cloudCertificateId) return;
      await run('update', () =>
        registry.update({
          deviceId: identity.deviceId,
          status: device.status ?? 'enabled',
          authentication: {
            type: 'selfSigned',
            x509Thumbprint: { primaryThumbprint: prints.primaryThumbprint },
          },
        }),
      );
    },

    async delete(identity): Promise<void> {
      await ignoring(404, () => run('delete', () => registry.delete(identity.deviceId)));
    },

    endpoints(): Promise<CloudEndpoints> {
      return Promise.resolve({ mqtt: `mqtts://${host}:8883`, api: opts.apiUrl });
    },
  };
}
