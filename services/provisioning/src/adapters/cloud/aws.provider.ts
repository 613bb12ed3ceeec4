// AWS IoT Core: a thing per device (name = device id, tenant and type as attributes), AWS signs
// the device's CSR, the certificate gets the fleet policy and is attached to the thing. The
// SDK's own retries are off (maxAttempts 1): cockatiel owns retries so the breaker sees every
// throttled attempt.
import {
  AttachPolicyCommand,
  AttachThingPrincipalCommand,
  CreateCertificateFromCsrCommand,
  CreateThingCommand,
  DeleteThingCommand,
  DescribeEndpointCommand,
  DetachThingPrincipalCommand,
  type IoTClient,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { type CloudPolicy } from './resilience';
import {
  type CloudEndpoints,
  type CloudIdentity,
  type CloudIssuedCertificate,
  type CloudProvider,
} from './cloud-provider';

/** Settings of {@link createAwsProvider}. */
export interface AwsProviderOptions {
  /** An IoTClient built with `maxAttempts: 1`. */
  client: IoTClient;
  /** Retry and breaker policy. */
  policy: CloudPolicy;
  /** IoT policy attached to every device certificate (`AWS_IOT_POLICY_NAME`). */
  policyName: string;
  /** Thing type to create things with, if the account uses them. */
  thingTypeName?: string | undefined;
  /** REST API URL handed to devices (AWS knows only the MQTT endpoint). */
  apiUrl: string;
}

const THROTTLE_NAMES = new Set(['ThrottlingException', 'TooManyRequestsException']);
const TRANSIENT_NAMES = new Set(['ServiceUnavailableException', 'InternalFailureException']);

/** Whether an AWS error is throttling. */
export function isAwsThrottle(err: Error): boolean {
  return THROTTLE_NAMES.has(err.name);
}

/** Whether an AWS error is a transient server or network failure. */
export function isAwsTransient(err: Error): boolean {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  return TRANSIENT_NAMES.has(err.name) || (status !== undefined && status >= 500);
}

// `arn:aws:iot:<region>:<account>:cert/<certificateId>`
const certificateIdOf = (arn: string) => arn.slice(arn.lastIndexOf('/') + 1);

/** The AWS IoT Core provider. */
export function createAwsProvider(opts: AwsProviderOptions): CloudProvider {
  const { client, policy } = opts;
  let endpoint: Promise<string> | undefined;
  const send = <T>(operation: string, fn: () => Promise<T>) => policy.run(operation, fn);

  return {
    kind: 'aws',
    issuesCertificates: true,

    async createIdentity(identity: CloudIdentity): Promise<void> {
      try {
        await send('CreateThing', () =>
          client.send(
            new CreateThingCommand({
              thingName: identity.deviceId,
              ...(opts.thingTypeName !== undefined && { thingTypeName: opts.thingTypeName }),
              attributePayload: {
                attributes: { tenant: identity.tenant, device_type: identity.deviceType },
              },
            }),
          ),
        );
      } catch (err) {
        // Same name, other attributes: the thing exists (a retried provisioning); keep it.
        if ((err as Error).name !== 'ResourceAlreadyExistsException') throw err;
      }
    },

    async issueCertificate(identity, csrPem): Promise<CloudIssuedCertificate> {
      const created = await send('CreateCertificateFromCsr', () =>
        client.send(
          new CreateCertificateFromCsrCommand({
            certificateSigningRequest: csrPem,
            setAsActive: true,
          }),
        ),
      );
      const arn = created.certificateArn!;
      await send('AttachPolicy', () =>
        client.send(new AttachPolicyCommand({ policyName: opts.policyName, target: arn })),
      );
      await send('AttachThingPrincipal', () =>
        client.send(
          new AttachThingPrincipalCommand({ thingName: identity.deviceId, principal: arn }),
        ),
      );
      return { certificatePem: created.certificatePem!, cloudCertificateId: arn };
    },

    registerCertificate(): Promise<string> {
      // Registering our own CA's certificates (RegisterCertificate) is not wired: AWS signs.
      return Promise.reject(new Error('aws: certificates are issued by AWS from the CSR'));
    },

    async revoke(_identity, cloudCertificateId, permanent): Promise<void> {
      await send('UpdateCertificate', () =>
        client.send(
          new UpdateCertificateCommand({
            certificateId: certificateIdOf(cloudCertificateId),
            newStatus: permanent ? 'REVOKED' : 'INACTIVE',
          }),
        ),
      );
    },

    async delete(identity, cloudCertificateIds): Promise<void> {
      // AWS refuses to delete a thing with attached principals.
      for (const principal of cloudCertificateIds) {
        await send('DetachThingPrincipal', () =>
          client.send(new DetachThingPrincipalCommand({ thingName: identity.deviceId, principal })),
        );
      }
      try {
        await send('DeleteThing', () =>
          client.send(new DeleteThingCommand({ thingName: identity.deviceId })),
        );
      } catch (err) {
        if ((err as Error).name !== 'ResourceNotFoundException') throw err;
      }
    },

    async endpoints(): Promise<CloudEndpoints> {
      endpoint ??= send('DescribeEndpoint', () =>
        client.send(new DescribeEndpointCommand({ endpointType: 'iot:Data-ATS' })),
      ).then((r) => r.endpointAddress!);
      // A failed lookup is not cached: the next provisioning asks again.
      const address = await endpoint.catch((err: unknown) => {
        endpoint = undefined;
        throw err;
      });
      return { mqtt: `mqtts://${address}:8883`, api: opts.apiUrl };
    },
  };
}
