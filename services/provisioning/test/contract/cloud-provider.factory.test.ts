// CLOUD_PROVIDER picks the implementation; a missing cloud setting fails at start, by name.
import {
  createCloudProvider,
  type CloudSettings,
} from '../../src/adapters/cloud/cloud-provider.factory';

const base: CloudSettings = {
  CLOUD_PROVIDER: 'local',
  PUBLIC_MQTT_URL: 'mqtts://broker:8883',
  PUBLIC_API_URL: 'https://api',
  AZURE_AUTH_MODE: 'ca',
  CLOUD_MAX_ATTEMPTS: 3,
  CLOUD_BREAKER_THRESHOLD: 5,
  CLOUD_BREAKER_HALF_OPEN_MS: 1000,
};
const identity = { tenant: 'acme', deviceId: 'd-1', deviceType: 'sensor' };

describe('createCloudProvider', () => {
  it('local: our CA signs, the CRL revokes, endpoints from config', async () => {
    const p = createCloudProvider(base);
    expect(p).toMatchObject({ kind: 'local', issuesCertificates: false });
    await expect(p.endpoints()).resolves.toEqual({
      mqtt: 'mqtts://broker:8883',
      api: 'https://api',
    });
    await expect(
      p.registerCertificate(identity, { certificatePem: 'x', fingerprintSha256: 'ff' }),
    ).resolves.toBe('ff');
    await expect(p.issueCertificate(identity, 'csr')).rejects.toThrow('fleet CA');
    await expect(p.createIdentity(identity)).resolves.toBeUndefined();
    await expect(p.revoke(identity, 'ff', true)).resolves.toBeUndefined();
    await expect(p.delete(identity, [])).resolves.toBeUndefined();
  });

  it.each([
    [{ CLOUD_PROVIDER: 'aws' }, 'AWS_REGION'],
    [{ CLOUD_PROVIDER: 'aws', AWS_REGION: 'eu-west-1' }, 'AWS_IOT_POLICY_NAME'],
    [{ CLOUD_PROVIDER: 'azure' }, 'AZURE_IOTHUB_CONNECTION_STRING'],
  ] as const)('%j fails naming %s', (over, name) => {
    expect(() => createCloudProvider({ ...base, ...over })).toThrow(name);
  });

  it.each([
    [{ CLOUD_PROVIDER: 'aws', AWS_REGION: 'eu-west-1', AWS_IOT_POLICY_NAME: 'p' }, 'aws'],
    [
      {
        CLOUD_PROVIDER: 'azure',
        AZURE_IOTHUB_CONNECTION_STRING:
          'HostName=h.azure-devices.net;SharedAccessKeyName=o;SharedAccessKey=a2V5',
      },
      'azure',
    ],
  ] as const)('builds %j', (over, kind) => {
    expect(createCloudProvider({ ...base, ...over }).kind).toBe(kind);
  });
});
