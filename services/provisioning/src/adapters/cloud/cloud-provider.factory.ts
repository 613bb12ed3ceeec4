// Builds the provider named by CLOUD_PROVIDER from the service configuration.
import { IoTClient } from '@aws-sdk/client-iot';
import { createAwsProvider, isAwsThrottle, isAwsTransient } from './aws.provider';
import { createAzureProvider, isAzureThrottle, isAzureTransient } from './azure.provider';
import { type CloudProvider, type CloudProviderKind } from './cloud-provider';
import { createLocalProvider } from './local.provider';
import { createCloudPolicy } from './resilience';

/** What the factory needs from the configuration. */
export interface CloudSettings {
  /** Which provider. */
  CLOUD_PROVIDER: CloudProviderKind;
  /** MQTT URL handed to devices (local). */
  PUBLIC_MQTT_URL: string;
  /** REST URL handed to devices. */
  PUBLIC_API_URL: string;
  /** AWS region (aws). */
  AWS_REGION?: string | undefined;
  /** IoT policy for device certificates (aws). */
  AWS_IOT_POLICY_NAME?: string | undefined;
  /** Optional thing type (aws). */
  AWS_IOT_THING_TYPE?: string | undefined;
  /** Hub connection string (azure). */
  AZURE_IOTHUB_CONNECTION_STRING?: string | undefined;
  /** `ca` or `thumbprint` (azure). */
  AZURE_AUTH_MODE: 'ca' | 'thumbprint';
  /** Attempts per cloud call. */
  CLOUD_MAX_ATTEMPTS: number;
  /** Consecutive throttled calls that open the breaker. */
  CLOUD_BREAKER_THRESHOLD: number;
  /** How long the breaker stays open. */
  CLOUD_BREAKER_HALF_OPEN_MS: number;
}

function required(name: string, value: string | undefined): string {
  if (value === undefined || value === '') throw new Error(`${name}: required for this provider`);
  return value;
}

/** The provider for the configuration; throws naming a missing variable. */
export function createCloudProvider(s: CloudSettings): CloudProvider {
  const tuning = {
    maxAttempts: s.CLOUD_MAX_ATTEMPTS,
    initialDelayMs: 200,
    maxDelayMs: 5000,
    breakerThreshold: s.CLOUD_BREAKER_THRESHOLD,
    halfOpenAfterMs: s.CLOUD_BREAKER_HALF_OPEN_MS,
  };
  switch (s.CLOUD_PROVIDER) {
    case 'aws':
      return createAwsProvider({
        client: new IoTClient({ region: required('AWS_REGION', s.AWS_REGION), maxAttempts: 1 }),
        policy: createCloudPolicy({
          ...tuning,
          isThrottle: isAwsThrottle,
          isTransient: isAwsTransient,
        }),
        policyName: required('AWS_IOT_POLICY_NAME', s.AWS_IOT_POLICY_NAME),
        thingTypeName: s.AWS_IOT_THING_TYPE,
        apiUrl: s.PUBLIC_API_URL,
      });
    case 'azure':
      return createAzureProvider({
        connectionString: required(
          'AZURE_IOTHUB_CONNECTION_STRING',
          s.AZURE_IOTHUB_CONNECTION_STRING,
        ),
        authMode: s.AZURE_AUTH_MODE,
        policy: createCloudPolicy({
          ...tuning,
          isThrottle: isAzureThrottle,
          isTransient: isAzureTransient,
        }),
        apiUrl: s.PUBLIC_API_URL,
      });
    default:
      return createLocalProvider({ mqtt: s.PUBLIC_MQTT_URL, api: s.PUBLIC_API_URL });
  }
}
