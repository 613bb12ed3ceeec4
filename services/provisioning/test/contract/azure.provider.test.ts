// Contract test of the Azure IoT Hub provider through the REST calls the azure-iothub SDK
// makes (nock on the hub host): create with CA or thumbprint authentication, the renewal
// overlap (primary + secondary thumbprint), disable on revocation, delete, endpoints, and the
// retry on 429. Azure is unreachable from CI, so HTTP is intercepted — the only mock besides AWS.
import nock from 'nock';
import {
  createAzureProvider,
  hubHostOf,
  isAzureThrottle,
  isAzureTransient,
} from '../../src/adapters/cloud/azure.provider';
import { createCloudPolicy } from '../../src/adapters/cloud/resilience';

const HOST = 'drover-test.azure-devices.net';
const CONN = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.from('k'.repeat(32)).toString('base64')}`;
const API = { 'api-version': '2021-04-12' };
const identity = { tenant: 'acme', deviceId: 'd-1', deviceType: 'sensor' };
const NEW = { certificatePem: 'new', fingerprintSha256: 'ab'.repeat(32) };
const OLD = { certificatePem: 'old', fingerprintSha256: 'cd'.repeat(32) };

function provider(authMode: 'ca' | 'thumbprint') {
  return createAzureProvider({
    connectionString: CONN,
    authMode,
    apiUrl: 'https://api.example',
    policy: createCloudPolicy({
      maxAttempts: 3,
      initialDelayMs: 1,
      maxDelayMs: 5,
      breakerThreshold: 50,
      halfOpenAfterMs: 60_000,
      isThrottle: isAzureThrottle,
      isTransient: isAzureTransient,
    }),
  });
}

const hub = () => nock(`https://${HOST}`);
const bodies: unknown[] = [];
const record = (body: unknown) => {
  bodies.push(body);
  return true;
};

beforeAll(() => nock.disableNetConnect());
afterEach(() => {
  bodies.length = 0;
  expect(nock.isDone()).toBe(true);
  nock.cleanAll();
});
afterAll(() => nock.enableNetConnect());

describe('azure provider', () => {
  it('ca mode: creates the device with certificateAuthority authentication; 409 is fine', async () => {
    hub()
      .put('/devices/d-1', record)
      .query(API)
      .matchHeader('authorization', /^SharedAccessSignature sr=/)
      .reply(200, { deviceId: 'd-1' })
      .put('/devices/d-1')
      .query(API)
      .reply(409, { Message: 'ErrorCode:DeviceAlreadyExists' });
    const p = provider('ca');
    await p.createIdentity(identity);
    await p.createIdentity(identity);
    expect(bodies[0]).toEqual({
      deviceId: 'd-1',
      status: 'enabled',
      authentication: { type: 'certificateAuthority' },
    });
  });

  it('ca mode: registering needs no hub call (the hub trusts the fleet CA)', async () => {
    await expect(provider('ca').registerCertificate(identity, NEW)).resolves.toBe(
      NEW.fingerprintSha256.toUpperCase(),
    );
  });

  it('thumbprint mode: creates with the thumbprint, renews with old as secondary', async () => {
    hub()
      .put('/devices/d-1', record)
      .query(API)
      .reply(200, { deviceId: 'd-1' })
      .put('/devices/d-1', record)
      .query(API)
      .matchHeader('if-match', '"*"')
      .reply(200, { deviceId: 'd-1' });
    const p = provider('thumbprint');
    await p.createIdentity(identity); // nothing yet: the first thumbprint creates the device
    await p.registerCertificate(identity, OLD);
    await p.registerCertificate(identity, NEW, OLD);
    expect(bodies).toEqual([
      {
        deviceId: 'd-1',
        status: 'enabled',
        authentication: {
          type: 'selfSigned',
          x509Thumbprint: { primaryThumbprint: OLD.fingerprintSha256.toUpperCase() },
        },
      },
      {
        deviceId: 'd-1',
        status: 'enabled',
        authentication: {
          type: 'selfSigned',
          x509Thumbprint: {
            primaryThumbprint: NEW.fingerprintSha256.toUpperCase(),
            secondaryThumbprint: OLD.fingerprintSha256.toUpperCase(),
          },
        },
      },
    ]);
  });

  it('thumbprint mode: superseding drops the secondary thumbprint', async () => {
    const auth = {
      type: 'selfSigned',
      x509Thumbprint: { primaryThumbprint: 'NEW', secondaryThumbprint: 'OLD' },
    };
    hub()
      .get('/devices/d-1')
      .query(API)
      .reply(200, { deviceId: 'd-1', status: 'enabled', authentication: auth })
      .put('/devices/d-1', record)
      .query(API)
      .reply(200, { deviceId: 'd-1' });
    await provider('thumbprint').revoke(identity, 'OLD', false);
    expect(bodies[0]).toEqual({
      deviceId: 'd-1',
      status: 'enabled',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: 'NEW' } },
    });
  });

  it('permanent revocation disables the device', async () => {
    hub()
      .get('/devices/d-1')
      .query(API)
      .reply(200, {
        deviceId: 'd-1',
        status: 'enabled',
        authentication: { type: 'certificateAuthority' },
      })
      .put('/devices/d-1', record)
      .query(API)
      .reply(200, { deviceId: 'd-1' });
    await provider('ca').revoke(identity, 'X', true);
    expect(bodies[0]).toMatchObject({ deviceId: 'd-1', status: 'disabled' });
  });

  it('delete: DELETE with If-Match *; a missing device is fine', async () => {
    hub()
      .delete('/devices/d-1')
      .query(API)
      .matchHeader('if-match', '"*"')
      .reply(204)
      .delete('/devices/d-1')
      .query(API)
      .reply(404, { Message: 'ErrorCode:DeviceNotFound' });
    const p = provider('ca');
    await p.delete(identity, []);
    await p.delete(identity, []);
  });

  it('retries a throttled (429) call', async () => {
    hub()
      .put('/devices/d-1')
      .query(API)
      .reply(429, { Message: 'ErrorCode:ThrottlingException' })
      .put('/devices/d-1')
      .query(API)
      .reply(200, { deviceId: 'd-1' });
    await provider('ca').createIdentity(identity);
  });

  it('endpoints come from the hub host', async () => {
    expect(hubHostOf(CONN)).toBe(HOST);
    expect(() => hubHostOf('SharedAccessKey=x')).toThrow('HostName');
    await expect(provider('ca').endpoints()).resolves.toEqual({
      mqtt: `mqtts://${HOST}:8883`,
      api: 'https://api.example',
    });
  });
});
