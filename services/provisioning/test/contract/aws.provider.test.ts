// Contract test of the AWS IoT provider: the exact commands and inputs it sends, its retries
// with back-off, and the breaker opening on ThrottlingException. AWS is unreachable from CI, so
// the SDK client is mocked (aws-sdk-client-mock) — the only mock besides Azure's HTTP.
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DetachThingPrincipalCommand,
  IoTClient,
  ResourceAlreadyExistsException,
  ThrottlingException,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { mockClient } from 'aws-sdk-client-mock';
import {
  createAwsProvider,
  isAwsThrottle,
  isAwsTransient,
} from '../../src/adapters/cloud/aws.provider';
import { createCloudPolicy } from '../../src/adapters/cloud/resilience';

const iot = mockClient(IoTClient);
const identity = { tenant: 'acme', deviceId: 'd-1', deviceType: 'sensor' };
const ARN = 'arn:aws:iot:eu-west-1:123456789012:cert/abc123';
const throttled = () => new ThrottlingException({ message: 'Rate exceeded', $metadata: {} });

function provider(opts: { maxAttempts?: number; breakerThreshold?: number } = {}) {
  const policy = createCloudPolicy({
    maxAttempts: opts.maxAttempts ?? 3,
    initialDelayMs: 1,
    maxDelayMs: 5,
    breakerThreshold: opts.breakerThreshold ?? 50,
    halfOpenAfterMs: 60_000,
    isThrottle: isAwsThrottle,
    isTransient: isAwsTransient,
  });
  const p = createAwsProvider({
    client: new IoTClient({ region: 'eu-west-1', maxAttempts: 1 }),
    policy,
    policyName: 'drover-device',
    apiUrl: 'https://api.example',
  });
  return { p, policy };
}

beforeEach(() => iot.reset());

describe('aws provider', () => {
  it('creates the thing with tenant and type attributes; an existing thing is fine', async () => {
    iot
      .on(CreateThingCommand)
      .resolvesOnce({ thingName: 'd-1' })
      .rejectsOnce(
        new ResourceAlreadyExistsException({ message: 'exists', $metadata: {}, resourceId: 'd-1' }),
      );
    const { p } = provider();
    await p.createIdentity(identity);
    await p.createIdentity(identity);
    expect(iot.commandCalls(CreateThingCommand).map((c) => c.args[0].input)).toEqual([
      {
        thingName: 'd-1',
        attributePayload: { attributes: { tenant: 'acme', device_type: 'sensor' } },
      },
      {
        thingName: 'd-1',
        attributePayload: { attributes: { tenant: 'acme', device_type: 'sensor' } },
      },
    ]);
  });

  it('signs a CSR, attaches the policy and the thing principal, in that order', async () => {
    iot.on(CreateCertificateFromCsrCommand).resolves({
      certificateArn: ARN,
      certificateId: 'abc123',
      certificatePem: 'PEM',
    });
    iot.on(AttachPolicyCommand).resolves({});
    iot.on(AttachThingPrincipalCommand).resolves({});
    const { p } = provider();
    expect(p.issuesCertificates).toBe(true);
    await expect(p.issueCertificate(identity, 'CSR')).resolves.toEqual({
      certificatePem: 'PEM',
      cloudCertificateId: ARN,
    });
    expect(iot.calls().map((c) => c.args[0].constructor.name)).toEqual([
      'CreateCertificateFromCsrCommand',
      'AttachPolicyCommand',
      'AttachThingPrincipalCommand',
    ]);
    expect(iot.commandCalls(CreateCertificateFromCsrCommand)[0]!.args[0].input).toEqual({
      certificateSigningRequest: 'CSR',
      setAsActive: true,
    });
    expect(iot.commandCalls(AttachPolicyCommand)[0]!.args[0].input).toEqual({
      policyName: 'drover-device',
      target: ARN,
    });
    expect(iot.commandCalls(AttachThingPrincipalCommand)[0]!.args[0].input).toEqual({
      thingName: 'd-1',
      principal: ARN,
    });
  });

  it.each([
    [false, 'INACTIVE'],
    [true, 'REVOKED'],
  ])('revoke(permanent=%s) sets the certificate %s', async (permanent, newStatus) => {
    iot.on(UpdateCertificateCommand).resolves({});
    await provider().p.revoke(identity, ARN, permanent);
    expect(iot.commandCalls(UpdateCertificateCommand)[0]!.args[0].input).toEqual({
      certificateId: 'abc123',
      newStatus,
    });
  });

  it('delete detaches the principals, then deletes the thing', async () => {
    iot.on(DetachThingPrincipalCommand).resolves({});
    iot.on(DeleteThingCommand).resolves({});
    await provider().p.delete(identity, [ARN]);
    expect(iot.calls().map((c) => [c.args[0].constructor.name, c.args[0].input])).toEqual([
      ['DetachThingPrincipalCommand', { thingName: 'd-1', principal: ARN }],
      ['DeleteThingCommand', { thingName: 'd-1' }],
    ]);
  });

  it('endpoints: DescribeEndpoint iot:Data-ATS, asked once', async () => {
    iot
      .on(DescribeEndpointCommand)
      .resolves({ endpointAddress: 'xyz-ats.iot.eu-west-1.amazonaws.com' });
    const { p } = provider();
    const expected = {
      mqtt: 'mqtts://xyz-ats.iot.eu-west-1.amazonaws.com:8883',
      api: 'https://api.example',
    };
    await expect(p.endpoints()).resolves.toEqual(expected);
    await expect(p.endpoints()).resolves.toEqual(expected);
    expect(iot.commandCalls(DescribeEndpointCommand).map((c) => c.args[0].input)).toEqual([
      { endpointType: 'iot:Data-ATS' },
    ]);
  });

  it('retries throttling and 5xx with back-off until it succeeds', async () => {
    iot
      .on(CreateThingCommand)
      .rejectsOnce(throttled())
      .rejectsOnce(Object.assign(new Error('boom'), { name: 'InternalFailureException' }))
      .resolves({ thingName: 'd-1' });
    await provider({ maxAttempts: 3 }).p.createIdentity(identity);
    expect(iot.commandCalls(CreateThingCommand)).toHaveLength(3);
  });

  it('does not retry a client error', async () => {
    iot
      .on(AttachPolicyCommand)
      .rejects(Object.assign(new Error('no policy'), { name: 'ResourceNotFoundException' }));
    iot
      .on(CreateCertificateFromCsrCommand)
      .resolves({ certificateArn: ARN, certificatePem: 'PEM' });
    await expect(provider().p.issueCertificate(identity, 'CSR')).rejects.toThrow('no policy');
    expect(iot.commandCalls(AttachPolicyCommand)).toHaveLength(1);
  });

  it('gives up after maxAttempts throttled calls with 503 cloud_throttled', async () => {
    iot.on(CreateThingCommand).rejects(throttled());
    await expect(provider({ maxAttempts: 3 }).p.createIdentity(identity)).rejects.toMatchObject({
      code: 'cloud_throttled',
      status: 503,
    });
    expect(iot.commandCalls(CreateThingCommand)).toHaveLength(3);
  });

  it('opens the breaker after consecutive throttling: further calls fail fast', async () => {
    iot.on(CreateThingCommand).rejects(throttled());
    iot.on(DeleteThingCommand).resolves({});
    const { p, policy } = provider({ maxAttempts: 2, breakerThreshold: 3 });
    await expect(p.createIdentity(identity)).rejects.toMatchObject({ code: 'cloud_throttled' });
    expect(policy.breakerState()).toBe('closed');
    // Third throttled attempt opens the breaker; the retry that follows is refused by it.
    await expect(p.createIdentity(identity)).rejects.toMatchObject({ code: 'cloud_unavailable' });
    expect(policy.breakerState()).toBe('open');
    expect(iot.commandCalls(CreateThingCommand)).toHaveLength(3);
    await expect(p.delete(identity, [])).rejects.toMatchObject({
      code: 'cloud_unavailable',
      status: 503,
    });
    expect(iot.commandCalls(DeleteThingCommand)).toHaveLength(0);
  });

  it('leaves registering our own certificates to the fleet CA path', async () => {
    await expect(
      provider().p.registerCertificate(identity, { certificatePem: 'x', fingerprintSha256: 'y' }),
    ).rejects.toThrow('issued by AWS');
  });
});
