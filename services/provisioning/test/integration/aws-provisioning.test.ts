// The same provisioning call creates the identity in AWS IoT when CLOUD_PROVIDER is aws: the
// thing, the certificate AWS signs from the device's CSR, the policy and the principal. AWS is
// unreachable from CI, so only the IoT client is mocked (aws-sdk-client-mock); Postgres, NATS
// and the rest of the service are real.
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DescribeEndpointCommand,
  DetachThingPrincipalCommand,
  DeleteThingCommand,
  IoTClient,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createEvent,
  DeviceDecommissionedV1,
  eventSubject,
  ProvisioningOps as Ops,
} from '@drover/contracts';
import { publish } from '@drover/bus';
import { createRootCa, issueFromCsr, type CertificateAuthority } from '@drover/pki';
import { waitFor } from '@drover/testing';
import {
  createAwsProvider,
  isAwsThrottle,
  isAwsTransient,
} from '../../src/adapters/cloud/aws.provider';
import { createCloudPolicy } from '../../src/adapters/cloud/resilience';
import { type Harness, startHarness } from './provisioning.harness';
import { createCsr } from './pki.fixtures';

const iot = mockClient(IoTClient);
let amazonCa: CertificateAuthority;
let h: Harness;
let n = 0;

beforeAll(async () => {
  amazonCa = await createRootCa({ commonName: 'Stand-in for the AWS IoT CA' });
  iot.on(CreateThingCommand).resolves({});
  iot
    .on(CreateCertificateFromCsrCommand)
    .callsFake(async (input: { certificateSigningRequest: string }) => {
      n += 1;
      const cert = await issueFromCsr(amazonCa, {
        csrPem: input.certificateSigningRequest,
        commonName: `aws-${n}`,
      });
      return {
        certificateArn: `arn:aws:iot:eu-west-1:1:cert/c${n}`,
        certificatePem: cert.certificatePem,
      };
    });
  iot.on(AttachPolicyCommand).resolves({});
  iot.on(AttachThingPrincipalCommand).resolves({});
  iot
    .on(DescribeEndpointCommand)
    .resolves({ endpointAddress: 'abc-ats.iot.eu-west-1.amazonaws.com' });
  iot.on(UpdateCertificateCommand).resolves({});
  iot.on(DetachThingPrincipalCommand).resolves({});
  iot.on(DeleteThingCommand).resolves({});
  const cloud = createAwsProvider({
    client: new IoTClient({ region: 'eu-west-1', maxAttempts: 1 }),
    policy: createCloudPolicy({
      maxAttempts: 2,
      initialDelayMs: 1,
      maxDelayMs: 2,
      breakerThreshold: 5,
      halfOpenAfterMs: 1000,
      isThrottle: isAwsThrottle,
      isTransient: isAwsTransient,
    }),
    policyName: 'drover-device',
    apiUrl: 'https://api.example',
  });
  h = await startHarness('prov_aws', {}, { cloud });
  await h.rpc(Ops.createEnrollment, {
    tenant: 'acme',
    device_type: 'sensor',
    hardware_ids: ['AWS-1'],
  });
}, 60_000);
afterAll(async () => {
  await h.close();
  iot.restore();
});

describe('provisioning with CLOUD_PROVIDER=aws', () => {
  it('creates the thing, has AWS sign the CSR, attaches policy and principal; decommission deletes', async () => {
    const { csrPem } = await createCsr('x');
    const res = await h.rpc<{
      device_id: string;
      certificate: string;
      endpoints: { mqtt: string };
    }>(Ops.provision, {
      hardware_id: 'AWS-1',
      device_type: 'sensor',
      csr: csrPem,
      request_id: 'a-1',
    });
    expect(res.endpoints.mqtt).toBe('mqtts://abc-ats.iot.eu-west-1.amazonaws.com:8883');
    expect(iot.commandCalls(CreateThingCommand)[0]!.args[0].input).toMatchObject({
      thingName: res.device_id,
    });
    expect(iot.commandCalls(CreateCertificateFromCsrCommand)[0]!.args[0].input).toEqual({
      certificateSigningRequest: csrPem,
      setAsActive: true,
    });
    expect(iot.commandCalls(AttachThingPrincipalCommand)[0]!.args[0].input).toEqual({
      thingName: res.device_id,
      principal: 'arn:aws:iot:eu-west-1:1:cert/c1',
    });
    expect(res.certificate).toContain('BEGIN CERTIFICATE');

    const evt = createEvent(DeviceDecommissionedV1, {
      tenant: 'acme',
      source: 'device-registry',
      subject: res.device_id,
      data: { device_id: res.device_id, decommissioned_at: new Date().toISOString() },
    });
    await publish(h.bus, eventSubject(h.bus.naming, 'acme', 'device', 'decommissioned'), evt, {
      msgId: evt.id,
    });
    await waitFor(() => iot.commandCalls(DeleteThingCommand).length === 1);
    expect(iot.commandCalls(UpdateCertificateCommand)[0]!.args[0].input).toEqual({
      certificateId: 'c1',
      newStatus: 'REVOKED',
    });
    expect(iot.commandCalls(DeleteThingCommand)[0]!.args[0].input).toEqual({
      thingName: res.device_id,
    });
  });

  it('refuses the server-key path: AWS signs only CSRs', async () => {
    await h.rpc(Ops.createEnrollment, {
      tenant: 'acme',
      device_type: 'gateway',
      hardware_ids: ['AWS-2'],
      allow_server_keys: true,
    });
    const res = h.rpc(Ops.provision, {
      hardware_id: 'AWS-2',
      device_type: 'gateway',
      request_id: 'a-2',
    });
    await expect(res).rejects.toMatchObject({ code: 'server_keys_unsupported' });
    // Refused before any cloud call: no thing was created for it.
    expect(iot.commandCalls(CreateThingCommand)).toHaveLength(1);
    const rows = await h.db
      .selectFrom('identities')
      .selectAll()
      .where('device_type', '=', 'gateway')
      .execute();
    expect(rows).toHaveLength(0);
  });
});
