// The same provisioning and renewal with CLOUD_PROVIDER=azure (thumbprint mode): the device is
// created in IoT Hub with its certificate's thumbprint, a renewal registers the new thumbprint
// as primary and keeps the old one as secondary (the overlap), and once the device reconnects
// the old thumbprint is dropped. IoT Hub is unreachable from CI: its REST API is intercepted
// with nock; Postgres, NATS and the service are real.
import nock from 'nock';
import { publish } from '@drover/bus';
import { deviceSubject, ProvisioningOps as Ops } from '@drover/contracts';
import { waitFor } from '@drover/testing';
import {
  createAzureProvider,
  isAzureThrottle,
  isAzureTransient,
} from '../../src/adapters/cloud/azure.provider';
import { createCloudPolicy } from '../../src/adapters/cloud/resilience';
import { type Harness, startHarness } from './provisioning.harness';
import { createCsr } from './pki.fixtures';

const HOST = 'drover-it.azure-devices.net';
const CONN = `HostName=${HOST};SharedAccessKeyName=iothubowner;SharedAccessKey=${Buffer.from('s'.repeat(32)).toString('base64')}`;
type Device = {
  deviceId: string;
  status: string;
  authentication: { type: string; x509Thumbprint: Record<string, string> };
};
const hub = new Map<string, Device>();
const puts: Device[] = [];
let h: Harness;

beforeAll(async () => {
  nock.disableNetConnect();
  nock.enableNetConnect((host) => !host.includes('azure-devices.net'));
  // A small in-memory hub behind the REST paths the SDK calls.
  nock(`https://${HOST}`)
    .persist()
    .put(/\/devices\/[^?]+/)
    .query(true)
    .reply((uri, body) => {
      const device = body as Device;
      puts.push(device);
      hub.set(device.deviceId, device);
      return [200, device];
    })
    .get(/\/devices\/[^?]+/)
    .query(true)
    .reply((uri) => {
      const id = decodeURIComponent(uri.split('?')[0]!.split('/').pop()!);
      const device = hub.get(id);
      return device === undefined ? [404, { Message: 'ErrorCode:DeviceNotFound' }] : [200, device];
    });
  const cloud = createAzureProvider({
    connectionString: CONN,
    authMode: 'thumbprint',
    apiUrl: 'https://api.example',
    policy: createCloudPolicy({
      maxAttempts: 2,
      initialDelayMs: 1,
      maxDelayMs: 2,
      breakerThreshold: 5,
      halfOpenAfterMs: 1000,
      isThrottle: isAzureThrottle,
      isTransient: isAzureTransient,
    }),
  });
  h = await startHarness('prov_azure', {}, { cloud });
  await h.rpc(Ops.createEnrollment, {
    tenant: 'acme',
    device_type: 'sensor',
    hardware_ids: ['AZ-1'],
  });
}, 60_000);
afterAll(async () => {
  await h.close();
  nock.cleanAll();
  nock.enableNetConnect();
});

const fingerprint = async (deviceId: string, status: string) => {
  const got = await h.rpc<{ certificates: { status: string; fingerprint_sha256: string }[] }>(
    Ops.getCertificate,
    {
      tenant: 'acme',
      device_id: deviceId,
    },
  );
  return got.certificates.find((c) => c.status === status)!.fingerprint_sha256.toUpperCase();
};

describe('provisioning with CLOUD_PROVIDER=azure (thumbprints)', () => {
  it('creates the hub device, keeps both thumbprints through a renewal, drops the old after reconnect', async () => {
    const res = await h.rpc<{ device_id: string; endpoints: { mqtt: string } }>(Ops.provision, {
      hardware_id: 'AZ-1',
      device_type: 'sensor',
      csr: (await createCsr('x')).csrPem,
      request_id: 'z-1',
    });
    const id = res.device_id;
    expect(res.endpoints.mqtt).toBe(`mqtts://${HOST}:8883`);
    const first = await fingerprint(id, 'active');
    expect(hub.get(id)).toEqual({
      deviceId: id,
      status: 'enabled',
      authentication: { type: 'selfSigned', x509Thumbprint: { primaryThumbprint: first } },
    });

    const now = new Date().toISOString();
    await publish(
      h.bus,
      deviceSubject(h.bus.naming, 'cert_renew', 'acme', id),
      {
        tenant: 'acme',
        device_type: 'sensor',
        device_id: id,
        msg_id: 'zr-1',
        ts: now,
        schema_version: 1,
        csr: (await createCsr(id)).csrPem,
        received_at: now,
      },
      { msgId: 'zr-1' },
    );
    await waitFor(() => h.renewAnswers.find((a) => a.body.device_id === id));
    const second = await fingerprint(id, 'active');
    expect(hub.get(id)!.authentication.x509Thumbprint).toEqual({
      primaryThumbprint: second,
      secondaryThumbprint: first,
    });

    const later = new Date(Date.now() + 1000).toISOString();
    await publish(
      h.bus,
      deviceSubject(h.bus.naming, 'presence', 'acme', id),
      {
        tenant: 'acme',
        device_type: 'sensor',
        device_id: id,
        state: 'online',
        ts: later,
        received_at: later,
      },
      { msgId: `zp-${id}` },
    );
    await waitFor(
      () => hub.get(id)!.authentication.x509Thumbprint.secondaryThumbprint === undefined,
      {
        description: 'old thumbprint dropped',
      },
    );
    expect(hub.get(id)!.authentication.x509Thumbprint).toEqual({ primaryThumbprint: second });
    expect(puts).toHaveLength(3);
  });
});
